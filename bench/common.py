"""Helpers shared by the benchmark scripts."""

import contextlib
import functools
import logging
import os
import shlex
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
import optuna
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from dqnlab.config.cli import CONF_DIR
from dqnlab.device import cpu_model
from dqnlab.sweep.storage import storage_url
from dqnlab.tracking.experiments import use_experiment
from dqnlab.training.run import run
from dqnlab.training.state import TrainResult


def stop_on_sigterm() -> None:
    """Make SIGTERM raise SystemExit, so that the `with` and `finally` blocks that started a
    server, a Ray head or a browser stop it instead of leaving it behind."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def compose_config(overrides: Sequence[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def run_ours(overrides: Sequence[str], store: Path | None = None) -> TrainResult:
    """One training run, kept in the MLflow store `store/mlflow.db` when given, else tracked
    in a throwaway store (most benchmarks keep no runs).

    It runs inside the store's folder: MLflow puts a new experiment's artifacts under ./mlruns.
    """
    logging.getLogger("dqnlab").setLevel(logging.WARNING)
    cfg = compose_config([*overrides, "tracking.log_model=false"])
    with contextlib.ExitStack() as stack:
        # Resolved before the chdir below: a relative `store` names a folder of the caller's.
        folder = (store or Path(stack.enter_context(tempfile.TemporaryDirectory()))).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        stack.enter_context(contextlib.chdir(folder))
        mlflow.set_tracking_uri(store_uri(folder))
        try:
            return run(cfg)
        finally:
            mlflow.set_tracking_uri(None)


def store_uri(folder: Path) -> str:
    """The tracking URI of a benchmark's kept MLflow store."""
    return f"sqlite:///{folder.resolve()}/mlflow.db"


def create_experiment(store: Path, name: str) -> None:
    """Create experiment `name` in the kept store before parallel workers race to create it,
    from inside the store's folder so that its artifacts go under it."""
    store = store.resolve()  # before the chdir: a relative `store` names a folder of the caller's
    store.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(store):
        mlflow.set_tracking_uri(store_uri(store))
        try:
            use_experiment(name)
        finally:
            mlflow.set_tracking_uri(None)


def bench_tags(threads: int) -> dict[str, str]:
    """Tags naming the machine, torch threads and command of a benchmark's kept runs.

    The machine includes the vector instructions torch uses (AVX2, AVX512): runs with the
    same seed learn differently on CPUs that round some float operations differently."""
    capability = torch.backends.cpu.get_cpu_capability()
    return {
        "bench.machine": (
            f"{cpu_model()} ({capability}), {os.cpu_count()} CPUs, torch {torch.__version__}"
        ),
        "bench.threads": str(threads),
        "bench.command": shlex.join(["python", *sys.argv]),
    }


def annotate_run(store: Path, result: TrainResult, tags: dict[str, str]) -> None:
    """Add each evaluation's wall time (`eval/seconds`, at its env step) and `tags` to the
    kept run that produced `result`, so a figure can plot it against steps and seconds."""
    client = MlflowClient(store_uri(store))
    now = int(time.time() * 1000)
    seconds = [Metric("eval/seconds", e.seconds, now, e.step) for e in result.evals]
    client.log_batch(result.run_id, metrics=seconds, tags=[RunTag(k, v) for k, v in tags.items()])


def load_study(storage: str, name: str) -> optuna.Study:
    """Study `name` in `storage`; a missing one is refused in one line naming those there, and
    a missing SQLite file before opening it would create an empty one."""
    url = storage_url(storage)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise SystemExit(f"no study storage {url.database}: give --storage the sweep's file")
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        there = ", ".join(optuna.get_all_study_names(storage)) or "none"
        raise SystemExit(f"no study {name!r} in {storage}; studies there: {there}") from None


def complete_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's complete trials; refused in one line when it has none."""
    trials = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    if not trials:
        raise SystemExit(f"study {study.study_name!r} has no complete trial yet")
    return trials


def first_reach(
    points: Sequence[tuple[int, float, float]], threshold: float
) -> tuple[float, float]:
    """(env step, seconds) of the first evaluation at or above `threshold`; both inf if never,
    so a median over seeds counts a seed that never got there as the slowest."""
    for step, seconds, mean in points:
        if mean >= threshold:
            return step, seconds
    return float("inf"), float("inf")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


Span = tuple[float, float]  # (start, end) of one call, time.perf_counter() seconds


@contextlib.contextmanager
def call_spans(owner: type, name: str) -> Iterator[list[Span]]:
    """Record the (start, end) of every call of method `owner.name` while inside."""
    original = getattr(owner, name)
    spans: list[Span] = []

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spans.append((start, time.perf_counter()))

    with mock.patch.object(owner, name, timed):
        yield spans


@dataclass(frozen=True)
class LearningThroughput:
    """Steady-state speed with learning on, from the end of the first learning phase to the
    end of the last: `phases - 1` whole cycles of `train_freq` env steps and one phase each."""

    steps: int  # env steps in the window
    seconds: float
    update_ms: float  # per learning phase: replay sampling, loss, backward, optimiser step
    sample_ms: float  # per learning phase: the replay sampling part of update_ms
    other_ms: float  # per env step: everything else (act, env step, store, sync, logging)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds


def learning_throughput(
    phases: Sequence[Span],
    learn_parts: Sequence[Sequence[Span]],
    samples: Sequence[Span],
    steps_per_phase: int,
) -> LearningThroughput:
    """Throughput between the ends of the first and last of `phases` (one per learning phase).

    `learn_parts` are the spans whose summed time is the learning cost (one span per phase
    each); `samples` the replay-sampling spans, one per phase.
    """
    n = len(phases) - 1
    if n < 1 or any(len(part) != len(phases) for part in (*learn_parts, samples)):
        raise ValueError("expected at least two learning phases and one span per phase per part")
    seconds = phases[-1][1] - phases[0][1]
    steps = n * steps_per_phase
    learn = sum(end - start for part in learn_parts for start, end in part[1:])
    sample = sum(end - start for start, end in samples[1:])
    return LearningThroughput(
        steps, seconds, 1e3 * learn / n, 1e3 * sample / n, 1e3 * (seconds - learn) / steps
    )
