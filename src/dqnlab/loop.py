"""The DQN training loop: act, step, store, learn, sync, evaluate, log."""

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from dqnlab.checkpoint import save_checkpoint
from dqnlab.evaluation import evaluate_greedy
from dqnlab.exploration import DecaySchedule, Exploration
from dqnlab.learner import DQNLearner, UpdateStats
from dqnlab.nstep import NStepBuilder
from dqnlab.replay import ReplayBuffer
from dqnlab.signals import raise_if_stop_requested

log = logging.getLogger(__name__)


class MetricSink(Protocol):
    """Where the loop sends metrics (an MLflow run tracker in practice)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def maybe_flush(self) -> None: ...


@dataclass(frozen=True)
class LoopSettings:
    """Counts are in env steps: transitions collected, summed over the parallel envs."""

    total_steps: int
    learning_starts: int
    batch_size: int
    train_freq: int
    gradient_steps: int
    target_sync_period: int
    tau: float
    eval_every: int
    log_every: int
    checkpoint_every: int
    progress_every_s: float
    seed: int
    eval_seed: int


@dataclass(frozen=True)
class EvalPoint:
    """One greedy evaluation during training."""

    step: int
    seconds: float
    mean: float
    std: float
    initial_q: float  # mean max_a Q(s0, a) over the eval episodes' first states


@dataclass
class TrainResult:
    """What a training run produced, for the caller to log, register or optimise."""

    steps: int = 0
    seconds: float = 0.0
    evals: list[EvalPoint] = field(default_factory=list)
    episode_steps: list[int] = field(default_factory=list)
    episode_returns: list[float] = field(default_factory=list)
    update_stats: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # per log
    best_state: dict[str, torch.Tensor] | None = None
    stopped_early: bool = False  # `on_eval` asked to stop (a sweep's pruner did)
    run_id: str | None = None  # the MLflow run that recorded it
    model_uri: str | None = None  # the logged best model, when one was logged

    @property
    def best_eval(self) -> float:
        return max((e.mean for e in self.evals), default=-math.inf)

    @property
    def final_eval(self) -> float:
        return self.evals[-1].mean if self.evals else -math.inf


def crossed(before: int, after: int, period: int) -> int:
    """How many multiples of `period` lie in (before, after]."""
    return after // period - before // period


def train(
    envs: gym.vector.VectorEnv,
    eval_envs: gym.vector.VectorEnv,
    learner: DQNLearner,
    buffer: ReplayBuffer,
    returns: NStepBuilder,
    exploration: Exploration,
    settings: LoopSettings,
    device: torch.device,
    rng: np.random.Generator,
    metrics: MetricSink,
    checkpoint_path: Path,
    on_eval: Callable[[int, float], bool] | None = None,
    lr_schedule: DecaySchedule | None = None,
    checkpoint_meta: Mapping[str, str] | None = None,
    after_eval: Callable[[TrainResult, bool], None] | None = None,
) -> TrainResult:
    """Train `learner` until `settings.total_steps` env steps.

    `on_eval(step, mean)` is called after each evaluation; returning True stops training;
    `lr_schedule(step)`, when given, sets the learning rate before each learning phase;
    `checkpoint_meta` is stored in every checkpoint (the run's config, its run id);
    `after_eval(result, last)` is called after each evaluation (figures, videos).
    """
    s = settings
    q_net = learner.q_net
    n_actions = int(envs.single_action_space.n)
    result = TrainResult()
    updates: list[UpdateStats] = []
    recent_returns: deque[float] = deque(maxlen=20)
    step, last_log_step = 0, 0
    start = last_log_time = last_progress = time.perf_counter()

    obs, _ = envs.reset(seed=s.seed)
    # NextStep autoreset: the step after an episode end only resets that env.
    resets_next = np.zeros(envs.num_envs, dtype=bool)

    def q_values() -> torch.Tensor:
        with torch.no_grad():
            return q_net(torch.as_tensor(obs, device=device))

    while step < s.total_steps and not result.stopped_early:
        raise_if_stop_requested()  # Ctrl-C / SIGTERM, deferred to this safe point
        # Act: explore or exploit.
        actions = exploration.select(step, q_values, n_actions, envs.num_envs, rng)

        # Step all envs.
        next_obs, rewards, terminated, truncated, info = envs.step(actions)

        # Store real transitions only: not the autoreset step that crosses an episode boundary.
        # The n-step builder holds each env's latest steps until their returns are complete.
        real = ~resets_next
        buffer.add(
            *returns.push(
                np.flatnonzero(real),
                obs[real],
                actions[real],
                rewards[real],
                next_obs[real],
                terminated[real],
                truncated[real],
            )
        )
        resets_next = terminated | truncated
        obs = next_obs
        before, step = step, step + int(real.sum())
        if "_episode" in info:
            for ret, length in zip(
                info["episode"]["r"][info["_episode"]],
                info["episode"]["l"][info["_episode"]],
                strict=True,
            ):
                metrics.log_metrics(
                    {"train/episode_return": ret, "train/episode_length": length}, step
                )
                result.episode_steps.append(step)
                result.episode_returns.append(float(ret))
                recent_returns.append(float(ret))

        # Learn: `gradient_steps` updates every `train_freq` env steps once learning starts.
        phases = crossed(before, step, s.train_freq)
        if phases and step >= s.learning_starts and len(buffer) >= s.batch_size:
            if lr_schedule is not None:
                learner.set_lr(lr_schedule(step))
            for _ in range(phases * s.gradient_steps):
                batch = buffer.sample(s.batch_size)
                updates.append(learner.update(batch))
                buffer.update_priorities(batch.indices, updates[-1].td_error)

        # Sync the target network.
        if crossed(before, step, s.target_sync_period):
            learner.sync_target(s.tau)

        # Log training statistics.
        if crossed(before, step, s.log_every) and updates:
            now = time.perf_counter()
            sps = (step - last_log_step) / (now - last_log_time)
            stats = _mean_update_stats(updates, step)
            result.update_stats.append((step, stats))
            metrics.log_metrics(
                stats
                | {"train/sps": sps, "train/lr": learner.optimizer.param_groups[0]["lr"]}
                | {f"train/{k}": v for k, v in exploration.stats(step).items()},
                step,
            )
            updates.clear()
            last_log_step, last_log_time = step, now

        # Evaluate greedily on separate envs, at fixed seeds.
        if crossed(before, step, s.eval_every) or step >= s.total_steps:
            evaluation = evaluate_greedy(q_net, eval_envs, s.eval_seed, device)
            point = EvalPoint(
                step,
                time.perf_counter() - start,
                evaluation.mean,
                evaluation.std,
                evaluation.initial_q,
            )
            metrics.log_metrics(
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
            result.stopped_early = on_eval is not None and on_eval(step, point.mean)
            if after_eval is not None:
                after_eval(result, step >= s.total_steps or result.stopped_early)

        done = step >= s.total_steps or result.stopped_early
        if crossed(before, step, s.checkpoint_every) or done:
            save_checkpoint(
                _checkpoint_state(learner, step) | dict(checkpoint_meta or {}), checkpoint_path
            )

        now = time.perf_counter()
        if now - last_progress >= s.progress_every_s or done:
            last_progress = now
            log.info(
                _progress_line(
                    step, s.total_steps, start, now, recent_returns, result, exploration.stats(step)
                )
            )
        metrics.maybe_flush()

    result.steps = step
    result.seconds = time.perf_counter() - start
    return result


def _mean_update_stats(updates: list[UpdateStats], step: int) -> dict[str, float]:
    """Average the window's update statistics; stop the run on a non-finite loss."""
    loss = torch.stack([u.loss for u in updates]).mean().item()
    if not math.isfinite(loss):
        raise FloatingPointError(f"training loss became {loss} by env step {step}")
    return {
        "train/loss": loss,
        "train/q_mean": torch.stack([u.q_mean for u in updates]).mean().item(),
        "train/grad_norm": torch.stack([u.grad_norm for u in updates]).mean().item(),
    }


def _checkpoint_state(learner: DQNLearner, step: int) -> dict[str, Any]:
    return {
        "q_net": learner.q_net.state_dict(),
        "target_net": learner.target_net.state_dict(),
        "optimizer": learner.optimizer.state_dict(),
        "step": step,
        "num_updates": learner.num_updates,
    }


def _progress_line(
    step: int,
    total: int,
    start: float,
    now: float,
    recent_returns: deque[float],
    result: TrainResult,
    exploration_stats: dict[str, float],
) -> str:
    ret = f"{np.mean(recent_returns):.1f}" if recent_returns else "-"
    last_eval = f"{result.evals[-1].mean:.1f}" if result.evals else "-"
    explore = " ".join(f"{k} {v:.3f}" for k, v in exploration_stats.items())
    return (
        f"step {step}/{total} | {step / (now - start):.0f} steps/s | "
        f"return {ret} | eval {last_eval} | {explore}"
    )
