"""What the training loop calls at its phase boundaries: everything but the algorithm.

A callback overrides the hooks it needs. The standard ones, in the order a run calls them:
StopOnSignal, EpisodeRecorder, TrainLogger, Evaluator, Checkpointer, ProgressLog, FlushMetrics.
"""

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from dqnlab.agent.learner import UpdateStats
from dqnlab.checkpointing.files import save_checkpoint
from dqnlab.checkpointing.signals import raise_if_stop_requested, stop_pending
from dqnlab.evaluation.greedy import evaluate_greedy
from dqnlab.tracking.mlflow_run import TrackingUnavailable
from dqnlab.training.state import EvalPoint, Training, TrainResult, loop_checkpoint

log = logging.getLogger(__name__)


class MetricSink(Protocol):
    """Where metrics go (an MLflow run tracker in practice)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def maybe_flush(self) -> None: ...

    def flush(self) -> None: ...

    @property
    def unsent(self) -> list[tuple[str, float, int, int]]: ...

    @property
    def gave_up(self) -> bool: ...


class Callback:
    """A no-op at every hook; subclasses override the ones they need."""

    def on_train_start(self, run: Training) -> None:
        """Before the first step of this process (a resumed run starts mid-way)."""

    def on_step_start(self, run: Training) -> None:
        """Before the loop acts."""

    def on_step_end(self, run: Training, before: int, info: dict[str, Any]) -> None:
        """After the loop stepped from env step `before` to `run.state.step`, learned and
        synced; `info` is the vector env's step info."""


class Checkpointer(Callback):
    """Writes the run's checkpoint every `every` env steps and when the run is done.

    `meta` (the run's config and id) is stored in every checkpoint. Metrics are flushed
    first: a checkpoint at step S means every point up to S is recorded.
    """

    def __init__(
        self,
        path: Path,
        every: int,
        with_buffer: bool,
        metrics: MetricSink,
        meta: Mapping[str, str],
    ) -> None:
        self.path, self.every, self.with_buffer = path, every, with_buffer
        self.metrics, self.meta = metrics, meta

    def save(self, run: Training) -> None:
        self.metrics.flush()
        # Points a tracking server did not take yet travel with the checkpoint.
        unsent = {"unsent_metrics": self.metrics.unsent}
        save_checkpoint(
            loop_checkpoint(run, self.with_buffer) | dict(self.meta) | unsent, self.path
        )

    def on_step_end(self, run: Training, before: int, info: dict[str, Any]) -> None:
        if run.crossed(before, self.every) or run.done:
            self.save(run)


class StopOnSignal(Callback):
    """A deferred Ctrl-C or SIGTERM writes a checkpoint, then raises StopRequested."""

    def __init__(self, checkpointer: Checkpointer) -> None:
        self.checkpointer = checkpointer

    def on_step_start(self, run: Training) -> None:
        if stop_pending():
            self.checkpointer.save(run)
            raise_if_stop_requested()


class EpisodeRecorder(Callback):
    """Logs each finished training episode's return and length (RecordEpisodeStatistics)."""

    def __init__(self, metrics: MetricSink) -> None:
        self.metrics = metrics

    def on_step_end(self, run: Training, before: int, info: dict[str, Any]) -> None:
        if "_episode" not in info:
            return
        step, result = run.state.step, run.result
        finished = info["_episode"]
        for ret, length in zip(
            info["episode"]["r"][finished], info["episode"]["l"][finished], strict=True
        ):
            self.metrics.log_metrics(
                {"train/episode_return": ret, "train/episode_length": length}, step
            )
            result.episode_steps.append(step)
            result.episode_returns.append(float(ret))
            run.state.recent_returns.append(float(ret))


class TrainLogger(Callback):
    """Every `every` env steps: the mean loss, Q and gradient norm of the updates since the
    last point, env steps/s, the learning rate and exploration's values; a non-finite loss
    stops the run."""

    def __init__(self, metrics: MetricSink, every: int) -> None:
        self.metrics, self.every = metrics, every
        self.last_time = 0.0

    def on_train_start(self, run: Training) -> None:
        self.last_time = run.started

    def on_step_end(self, run: Training, before: int, info: dict[str, Any]) -> None:
        st = run.state
        if not (run.crossed(before, self.every) and st.updates):
            return
        now = time.perf_counter()
        sps = (st.step - st.last_log_step) / (now - self.last_time)
        stats = mean_update_stats(st.updates, st.step)
        run.result.update_stats.append((st.step, stats))
        self.metrics.log_metrics(
            stats
            | {"train/sps": sps, "train/lr": run.learner.optimizer.param_groups[0]["lr"]}
            | {f"train/{k}": v for k, v in run.exploration.stats(st.step).items()},
            st.step,
        )
        st.updates.clear()
        st.last_log_step, self.last_time = st.step, now


def mean_update_stats(updates: list[UpdateStats], step: int) -> dict[str, float]:
    """Average the window's update statistics; stop the run on a non-finite loss."""
    loss = torch.stack([u.loss for u in updates]).mean().item()
    if not math.isfinite(loss):
        raise FloatingPointError(f"training loss became {loss} by env step {step}")
    return {
        "train/loss": loss,
        "train/q_mean": torch.stack([u.q_mean for u in updates]).mean().item(),
        "train/grad_norm": torch.stack([u.grad_norm for u in updates]).mean().item(),
    }


class Evaluator(Callback):
    """Every `every` env steps and at the end: one episode in each of `envs` from fixed seeds,
    greedy (or `epsilon`-greedy); keeps the best network's weights.

    `should_stop(evals)` gets the evaluations so far (a resumed run's included); True stops
    the run (a sweep's pruner). `after_eval(result, last)` logs figures and videos.
    """

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        every: int,
        seed: int,
        epsilon: float,
        metrics: MetricSink,
        should_stop: Callable[[Sequence[EvalPoint]], bool] | None = None,
        after_eval: Callable[[TrainResult, bool], None] | None = None,
    ) -> None:
        self.envs, self.every, self.seed, self.epsilon = envs, every, seed, epsilon
        self.metrics, self.should_stop, self.after_eval = metrics, should_stop, after_eval

    def on_step_end(self, run: Training, before: int, info: dict[str, Any]) -> None:
        step, result, q_net = run.state.step, run.result, run.learner.q_net
        if not (run.crossed(before, self.every) or step >= run.settings.total_steps):
            return
        evaluation = evaluate_greedy(q_net, self.envs, self.seed, run.device, self.epsilon)
        point = EvalPoint(
            step, run.seconds(), evaluation.mean, evaluation.std, evaluation.initial_q
        )
        self.metrics.log_metrics(
            {
                "eval/return_mean": point.mean,
                "eval/return_std": point.std,
                "eval/q_initial": point.initial_q,
            },
            step,
        )
        if point.mean > result.best_eval:
            result.best_state = {k: v.detach().clone() for k, v in q_net.state_dict().items()}
        result.evals.append(point)
        result.stopped_early = self.should_stop is not None and self.should_stop(result.evals)
        if self.after_eval is not None:
            self.after_eval(result, run.done)


class ProgressLog(Callback):
    """A progress line every `every_s` seconds and at the end: env steps/s of this process,
    the mean return of recent episodes, the last eval and exploration's values."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.last = 0.0

    def on_train_start(self, run: Training) -> None:
        self.last = run.started

    def on_step_end(self, run: Training, before: int, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s and not run.done:
            return
        self.last = now
        st, result = run.state, run.result
        ret = f"{np.mean(st.recent_returns):.1f}" if st.recent_returns else "-"
        last_eval = f"{result.evals[-1].mean:.1f}" if result.evals else "-"
        explore = " ".join(f"{k} {v:.3f}" for k, v in run.exploration.stats(st.step).items())
        sps = (st.step - run.start_step) / (now - run.started)
        log.info(
            f"step {st.step}/{run.settings.total_steps} | {sps:.0f} steps/s | "
            f"return {ret} | eval {last_eval} | {explore}"
        )


class FlushMetrics(Callback):
    """Sends buffered metric points when the sink's flush period has passed; when the
    tracking server has been away too long, checkpoints and ends the run (resumable)."""

    def __init__(self, metrics: MetricSink, checkpointer: Checkpointer) -> None:
        self.metrics, self.checkpointer = metrics, checkpointer

    def on_step_end(self, run: Training, before: int, info: dict[str, Any]) -> None:
        self.metrics.maybe_flush()
        if self.metrics.gave_up:
            self.checkpointer.save(run)
            raise TrackingUnavailable(
                f"the tracking server did not answer for tracking.outage_limit_s; the run "
                f"stopped at step {run.state.step} after its checkpoint, which keeps "
                f"{len(self.metrics.unsent)} metric points not yet sent"
            )
