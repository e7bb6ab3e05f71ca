"""The DQN training loop: act, step, store, learn, sync, evaluate, log."""

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from dqnlab.checkpoint import save_checkpoint
from dqnlab.evaluation import evaluate_greedy
from dqnlab.exploration import DecaySchedule, Exploration
from dqnlab.learner import DQNLearner, UpdateStats
from dqnlab.loop_state import EvalPoint, LoopState, TrainResult, loop_checkpoint, restore_loop
from dqnlab.replay import ReplayBuffer
from dqnlab.signals import raise_if_stop_requested, stop_pending

log = logging.getLogger(__name__)


class MetricSink(Protocol):
    """Where the loop sends metrics (an MLflow run tracker in practice)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def maybe_flush(self) -> None: ...

    def flush(self) -> None: ...


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
    checkpoint_buffer: bool
    progress_every_s: float
    seed: int
    eval_seed: int
    eval_epsilon: float = 0.0  # probability of a random action in evaluations (0: greedy)


def crossed(before: int, after: int, period: int) -> int:
    """How many multiples of `period` lie in (before, after]."""
    return after // period - before // period


def train(
    envs: gym.vector.VectorEnv,
    eval_envs: gym.vector.VectorEnv,
    learner: DQNLearner,
    buffer: ReplayBuffer,
    exploration: Exploration,
    settings: LoopSettings,
    device: torch.device,
    rng: np.random.Generator,
    metrics: MetricSink,
    checkpoint_path: Path,
    on_eval: Callable[[Sequence[EvalPoint]], bool] | None = None,
    lr_schedule: DecaySchedule | None = None,
    checkpoint_meta: Mapping[str, str] | None = None,
    after_eval: Callable[[TrainResult, bool], None] | None = None,
    resume_from: dict[str, Any] | None = None,
) -> TrainResult:
    """Train `learner` until `settings.total_steps` env steps.

    `on_eval(evals)` is called with the evaluations so far (a resumed run's included)
    after each one; returning True stops training;
    `lr_schedule(step)`, when given, sets the learning rate before each learning phase;
    `checkpoint_meta` is stored in every checkpoint (the run's config, its run id);
    `after_eval(result, last)` is called after each evaluation (figures, videos);
    `resume_from`, a checkpoint this loop wrote, continues that run where it stopped.
    A deferred Ctrl-C or SIGTERM writes a checkpoint, then raises StopRequested.
    """
    s = settings
    q_net = learner.q_net
    n_actions = int(envs.single_action_space.n)
    if resume_from is None:
        obs, _ = envs.reset(seed=s.seed)
        st = LoopState(obs, np.zeros(envs.num_envs, dtype=bool), s.learning_starts)
    else:
        st, rng = restore_loop(resume_from, learner, buffer, envs, s.learning_starts, s.seed)
    result, start_step = st.result, st.step
    start = last_log_time = last_progress = time.perf_counter()

    def q_values() -> torch.Tensor:
        with torch.no_grad():
            return q_net(torch.as_tensor(st.obs, device=device))

    def save() -> None:
        # Metrics first: a checkpoint at step S means every point up to S is recorded.
        metrics.flush()
        seconds = st.seconds_before + time.perf_counter() - start
        state = loop_checkpoint(st, seconds, learner, buffer, envs, rng, s.checkpoint_buffer)
        save_checkpoint(state | dict(checkpoint_meta or {}), checkpoint_path)

    while st.step < s.total_steps and not result.stopped_early:
        if stop_pending():  # Ctrl-C / SIGTERM, deferred to this safe point
            save()
            raise_if_stop_requested()
        # Act: explore or exploit.
        actions = exploration.select(st.step, q_values, n_actions, envs.num_envs, rng)

        # Step all envs.
        next_obs, rewards, terminated, truncated, info = envs.step(actions)

        # Store real transitions only: not the autoreset step that crosses an episode boundary.
        # The buffer holds each env's latest steps until their n-step returns are complete.
        real = ~st.resets_next
        buffer.add_steps(
            np.flatnonzero(real),
            st.obs[real],
            actions[real],
            rewards[real],
            next_obs[real],
            terminated[real],
            truncated[real],
        )
        st.resets_next = terminated | truncated
        st.obs = next_obs
        before = st.step
        st.step += int(real.sum())
        step = st.step
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
                st.recent_returns.append(float(ret))

        # Learn: `gradient_steps` updates every `train_freq` env steps once learning starts.
        phases = crossed(before, step, s.train_freq)
        if phases and step >= st.learning_starts and len(buffer) >= s.batch_size:
            if lr_schedule is not None:
                learner.set_lr(lr_schedule(step))
            for _ in range(phases * s.gradient_steps):
                batch = buffer.sample(s.batch_size)
                st.updates.append(learner.update(batch))
                buffer.update_priorities(batch.indices, st.updates[-1].td_error)

        # Sync the target network.
        if crossed(before, step, s.target_sync_period):
            learner.sync_target(s.tau)

        # Log training statistics.
        if crossed(before, step, s.log_every) and st.updates:
            now = time.perf_counter()
            sps = (step - st.last_log_step) / (now - last_log_time)
            stats = _mean_update_stats(st.updates, step)
            result.update_stats.append((step, stats))
            metrics.log_metrics(
                stats
                | {"train/sps": sps, "train/lr": learner.optimizer.param_groups[0]["lr"]}
                | {f"train/{k}": v for k, v in exploration.stats(step).items()},
                step,
            )
            st.updates.clear()
            st.last_log_step, last_log_time = step, now

        # Evaluate greedily on separate envs, at fixed seeds.
        if crossed(before, step, s.eval_every) or step >= s.total_steps:
            evaluation = evaluate_greedy(q_net, eval_envs, s.eval_seed, device, s.eval_epsilon)
            point = EvalPoint(
                step,
                st.seconds_before + time.perf_counter() - start,
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
            result.stopped_early = on_eval is not None and on_eval(result.evals)
            if after_eval is not None:
                after_eval(result, step >= s.total_steps or result.stopped_early)

        done = step >= s.total_steps or result.stopped_early
        if crossed(before, step, s.checkpoint_every) or done:
            save()

        now = time.perf_counter()
        if now - last_progress >= s.progress_every_s or done:
            last_progress = now
            log.info(
                _progress_line(
                    step,
                    s.total_steps,
                    now - start,
                    step - start_step,
                    st.recent_returns,
                    result,
                    exploration.stats(step),
                )
            )
        metrics.maybe_flush()

    result.steps = st.step
    result.seconds = st.seconds_before + time.perf_counter() - start
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


def _progress_line(
    step: int,
    total: int,
    seconds: float,
    steps_taken: int,
    recent_returns: deque[float],
    result: TrainResult,
    exploration_stats: dict[str, float],
) -> str:
    """`steps_taken` in `seconds` by this process (a resumed run started mid-way)."""
    ret = f"{np.mean(recent_returns):.1f}" if recent_returns else "-"
    last_eval = f"{result.evals[-1].mean:.1f}" if result.evals else "-"
    explore = " ".join(f"{k} {v:.3f}" for k, v in exploration_stats.items())
    return (
        f"step {step}/{total} | {steps_taken / seconds:.0f} steps/s | "
        f"return {ret} | eval {last_eval} | {explore}"
    )
