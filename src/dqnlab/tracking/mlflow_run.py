"""MLflow tracking: one run per training, metrics sent in batches, status always closed."""

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from requests import RequestException

from dqnlab.errors import ResumableError
from dqnlab.tracking.experiments import use_experiment
from dqnlab.tracking.server import (
    bound_server_requests,
    is_server,
    probing_requests,
    without_passwords,
)
from dqnlab.tracking.store import ensure_tracking_store

log = logging.getLogger(__name__)

MAX_METRICS_PER_BATCH = 1000  # MLflow's limit for one log_batch call
# What a tracking server that went away raises (after MLflow's bounded retries).
SERVER_ERRORS = (MlflowException, RequestException, OSError)


class TrackingUnavailable(ResumableError):
    """The tracking server stayed away longer than `tracking.outage_limit_s`."""


class RunTracker:
    """Buffers metrics in memory and sends them with `log_batch` every few seconds.

    One blocking call per env step would cost more than the step itself on a local
    SQLite store (about 230 points/s); batches of 1,000 points reach about 12,000 points/s.

    A tracking server that does not answer does not stop training: its points stay queued
    and are sent at the next flush (sending a point twice records it once: MLflow keeps one
    copy of identical points), and checkpoints carry them (`unsent`). After
    `outage_limit_s` without an answer, `gave_up` turns True and the run should end.
    """

    def __init__(
        self,
        run_id: str,
        flush_every_s: float = 10.0,
        logged_through: Mapping[str, int] | None = None,
        outage_limit_s: float | None = None,
    ) -> None:
        self.run_id = run_id
        self.client = MlflowClient()
        self.flush_every_s = flush_every_s
        self.logged_through = dict(logged_through or {})
        self.outage_limit_s = outage_limit_s  # None: a local store, whose errors are raised
        self._pending: list[Metric] = []
        self._last_flush = time.monotonic()
        self._down_since: float | None = None

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Queue one value per metric name at env step `step`.

        A resumed run repeats the steps between its checkpoint and where it stopped: points
        at or before the last step already recorded for a metric are not sent twice.
        """
        now_ms = int(time.time() * 1000)
        self._pending += [
            Metric(key, float(value), now_ms, step)
            for key, value in metrics.items()
            if step > self.logged_through.get(key, -1)
        ]

    def requeue(self, points: Sequence[Sequence[Any]]) -> None:
        """Queue points a checkpoint carried unsent, (key, value, timestamp, step) each,
        but those the store already holds."""
        self._pending += [
            Metric(str(key), float(value), int(stamp), int(step))
            for key, value, stamp, step in points
            if step > self.logged_through.get(key, -1)
        ]

    @property
    def unsent(self) -> list[tuple[str, float, int, int]]:
        """The queued points, (key, value, timestamp, step) each: what a checkpoint keeps."""
        return [(m.key, m.value, m.timestamp, m.step) for m in self._pending]

    @property
    def server_away(self) -> bool:
        """Whether the last send found the tracking server away."""
        return self._down_since is not None

    def requests(self) -> AbstractContextManager[None]:
        """How requests to the server are made now: one short try while it is away (a
        probe), else MLflow's bounded retries."""
        return probing_requests() if self.server_away else nullcontext()

    @property
    def gave_up(self) -> bool:
        """Whether the server has been away longer than the outage limit."""
        return (
            self._down_since is not None
            and self.outage_limit_s is not None
            and time.monotonic() - self._down_since > self.outage_limit_s
        )

    def maybe_flush(self) -> None:
        """Send queued metrics if the last send is older than `flush_every_s`."""
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def drain(self, retry_every_s: float = 5.0) -> None:
        """Send every queued metric, waiting for a server that is away (the end of a run:
        its artifacts go next); after the outage limit, raise TrackingUnavailable."""
        self.flush()
        while self._down_since is not None:
            if self.gave_up:
                raise TrackingUnavailable(
                    f"the tracking server did not answer for {self.outage_limit_s:.0f} s "
                    "(tracking.outage_limit_s) at the end of the run; its checkpoint keeps "
                    f"{len(self._pending)} metric points not yet sent"
                )
            time.sleep(retry_every_s)
            self.flush()

    def flush(self) -> None:
        """Send every queued metric now; while a server is away, keep them for later."""
        self._last_flush = time.monotonic()
        try:
            with self.requests():
                while self._pending:
                    batch = self._pending[:MAX_METRICS_PER_BATCH]
                    self.client.log_batch(self.run_id, metrics=batch, synchronous=True)
                    del self._pending[: len(batch)]
        except SERVER_ERRORS as exc:
            if self.outage_limit_s is None:
                raise
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning(
                    "tracking server not answering (%s); metrics are kept and sent when it "
                    "is back (giving up after %.0f s)",
                    " ".join(str(exc).split())[:200],
                    self.outage_limit_s,
                )
            return
        if self._down_since is not None:
            log.warning("tracking server back after %.0f s", time.monotonic() - self._down_since)
            self._down_since = None


@dataclass(frozen=True)
class RunLabels:
    """How a caller labels a training run: its name, extra tags and parent run."""

    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    on_start: Callable[[str], None] | None = None  # told the run id as soon as it exists


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping to {"a.b.c": "value"}, the form MLflow params and its UI expect."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = str(value)
    return flat


def source_tags(overrides: list[str]) -> dict[str, str]:
    """Where a run came from: git commit, dirty flag, command line and Hydra overrides.

    The commit is the one of the code that ran (this package's checkout), wherever the
    command was started from; an install outside git gets no git tags.
    """

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(Path(__file__).resolve().parent), *args],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    tags = {
        "command": without_passwords(" ".join(sys.argv)),
        "hydra.overrides": without_passwords(" ".join(overrides)),
    }
    if commit is not None:
        tags["git.commit"] = commit
        tags["git.dirty"] = str(bool(git("status", "--porcelain", "--untracked-files=no")))
    return tags


def last_logged_steps(client: MlflowClient, run_id: str) -> dict[str, int]:
    """The last step recorded for each metric of a run."""
    keys = client.get_run(run_id).data.metrics
    return {key: max(m.step for m in client.get_metric_history(run_id, key)) for key in keys}


@contextmanager
def tracked_run(
    tracking_uri: str | None,
    experiment: str,
    run_name: str,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    description: str,
    flush_every_s: float,
    outage_limit_s: float | None = None,
    parent_run_id: str | None = None,
    resume_run_id: str | None = None,
) -> Iterator[RunTracker]:
    """Open an MLflow run and always close it: FINISHED, KILLED (Ctrl-C / SIGTERM) or FAILED.

    Metrics already queued are sent before the status is set, so a failed run keeps them.
    `parent_run_id` nests the run under a run of another process (a sweep's study run).
    `resume_run_id` reopens that run instead: its params and tags stay as recorded.
    A tracking server may be away for up to `outage_limit_s` during the run (RunTracker);
    None: every failed request raises.
    """
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    server = is_server(mlflow.get_tracking_uri())
    if server:
        bound_server_requests()
    ensure_tracking_store()
    use_experiment(experiment)
    limit = outage_limit_s if server else None  # a local store's errors are raised
    if resume_run_id is None:
        run = mlflow.start_run(
            run_name=run_name,
            tags=dict(tags),
            description=description,
            parent_run_id=parent_run_id,
        )
        tracker = RunTracker(run.info.run_id, flush_every_s, outage_limit_s=limit)
    else:
        run = mlflow.start_run(run_id=resume_run_id, tags=dict(tags))
        logged = last_logged_steps(MlflowClient(), resume_run_id)
        tracker = RunTracker(resume_run_id, flush_every_s, logged, limit)
    status, end_tags = "FAILED", {}
    try:
        if resume_run_id is None:
            mlflow.log_params(dict(params))
        yield tracker
        status = "FINISHED"
    except KeyboardInterrupt as stop:
        status, end_tags = "KILLED", {"stopped_by": str(stop) or "SIGINT"}
        raise
    except BaseException as exc:
        end_tags = {"error": f"{type(exc).__name__}: {exc}"[:5000]}
        raise
    finally:
        _end_run(tracker, status, end_tags, server)


def _end_run(tracker: RunTracker, status: str, tags: Mapping[str, str], server: bool) -> None:
    """Send what is queued, tag why the run ended, set its status. A server that is away
    leaves the run RUNNING (its checkpoint holds the unsent points: resume it later)."""
    try:
        try:
            tracker.flush()
            with tracker.requests():  # a server already away is not waited for again
                if tags:
                    mlflow.set_tags(dict(tags))
        finally:
            with tracker.requests():
                mlflow.end_run(status)
        log.info("MLflow run %s ended %s", tracker.run_id, status)
    except SERVER_ERRORS as exc:
        if not server:
            raise
        log.error("MLflow run %s not closed: the tracking server is away (%s)", tracker.run_id, exc)
