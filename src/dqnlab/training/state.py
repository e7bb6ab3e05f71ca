"""What the training loop carries from step to step, and how it goes into a checkpoint.

A checkpoint holds everything the next env step depends on: networks, optimiser, replay
buffer (optional), pending n-step windows, the envs' own state, every RNG and the loop's
counters, so a resumed run continues as if it had never stopped.
"""

import dataclasses
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from dqnlab.agent.exploration import Exploration
from dqnlab.agent.learner import DQNLearner, UpdateStats
from dqnlab.checkpointing.env_state import capture_env_state, restore_env_state
from dqnlab.checkpointing.state_codec import decode, encode
from dqnlab.replay.buffer import ReplayBuffer
from dqnlab.schedules import DecaySchedule
from dqnlab.training.seeding import restore_rng_states, rng_states

log = logging.getLogger(__name__)

RECENT_EPISODES = 20  # episodes in the progress line's mean return


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
    test_return: float | None = None  # the best model's mean return on unseen test episodes

    @property
    def best_eval(self) -> float:
        return max((e.mean for e in self.evals), default=-math.inf)

    @property
    def final_eval(self) -> float:
        return self.evals[-1].mean if self.evals else -math.inf


@dataclass
class LoopState:
    """The loop's position between two env steps."""

    obs: np.ndarray
    resets_next: np.ndarray  # NextStep autoreset: these envs' next step only resets them
    learning_starts: int  # env step from which updates run
    step: int = 0
    last_log_step: int = 0
    seconds_before: float = 0.0  # training time spent by earlier processes of this run
    recent_returns: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_EPISODES))
    updates: list[UpdateStats] = field(default_factory=list)  # since the last log line
    result: TrainResult = field(default_factory=TrainResult)


def crossed(before: int, after: int, period: int) -> int:
    """How many multiples of `period` lie in (before, after]."""
    return after // period - before // period


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
    lr_schedule: DecaySchedule | None = None  # sets the learning rate before each learning phase


@dataclass
class Training:
    """What the loop drives, and what its callbacks may read: the agent's parts, the envs,
    the loop's state (a resumed run's included) and the clock of this process."""

    envs: gym.vector.VectorEnv
    learner: DQNLearner
    buffer: ReplayBuffer
    exploration: Exploration
    settings: LoopSettings
    device: torch.device
    rng: np.random.Generator
    state: LoopState
    started: float = field(default_factory=time.perf_counter)
    start_step: int = 0  # the env step this process started at

    @property
    def result(self) -> TrainResult:
        return self.state.result

    @property
    def done(self) -> bool:
        """The budget is spent or a callback stopped the run (a sweep's pruner)."""
        return self.state.step >= self.settings.total_steps or self.result.stopped_early

    def crossed(self, before: int, period: int) -> int:
        """How many multiples of `period` lie in (before, the current step]."""
        return crossed(before, self.state.step, period)

    def seconds(self) -> float:
        """Training time of the run so far, earlier processes of a resumed run included."""
        return self.state.seconds_before + time.perf_counter() - self.started


def start_state(envs: gym.vector.VectorEnv, settings: LoopSettings, seed: int) -> LoopState:
    """A new run's state: every env reset from `seed`, nothing learned yet."""
    obs, _ = envs.reset(seed=seed)
    return LoopState(obs, np.zeros(envs.num_envs, dtype=bool), settings.learning_starts)


def loop_checkpoint(run: Training, with_buffer: bool) -> dict[str, Any]:
    """Everything a resume needs, in types `torch.load(weights_only=True)` accepts."""
    state, result = run.state, run.result
    return {
        **run.learner.state_dict(),
        "step": state.step,
        "loop": encode(
            {
                "obs": state.obs,
                "resets_next": state.resets_next,
                "learning_starts": state.learning_starts,
                "last_log_step": state.last_log_step,
                "seconds": run.seconds(),
                "recent_returns": state.recent_returns,
                "updates": [dataclasses.asdict(u) for u in state.updates],
            }
        ),
        "result": {
            "evals": [dataclasses.astuple(e) for e in result.evals],
            "episode_steps": result.episode_steps,
            "episode_returns": result.episode_returns,
            "update_stats": result.update_stats,
            "best_state": result.best_state,
        },
        "rng": rng_states(run.rng),
        "envs": capture_env_state(run.envs),
        "buffer": run.buffer.state_dict() if with_buffer else None,
    }


def restore_loop(
    checkpoint: dict[str, Any],
    learner: DQNLearner,
    buffer: ReplayBuffer,
    envs: gym.vector.VectorEnv,
    learning_starts: int,
    seed: int,
) -> tuple[LoopState, np.random.Generator]:
    """Put a `loop_checkpoint` back into freshly built objects of the same config.

    Envs whose state could not be saved start new episodes (seeded by the step), and
    their unfinished n-step windows are dropped; without a saved buffer, learning waits
    until `learning_starts` new transitions are stored again.
    """
    learner.load_state_dict(checkpoint)
    loop = decode(checkpoint["loop"])
    step = checkpoint["step"]
    saved = checkpoint["result"]
    result = TrainResult(
        evals=[EvalPoint(*e) for e in saved["evals"]],
        episode_steps=list(saved["episode_steps"]),
        episode_returns=list(saved["episode_returns"]),
        update_stats=list(saved["update_stats"]),
        best_state=saved["best_state"],
    )
    state = LoopState(
        obs=loop["obs"],
        resets_next=loop["resets_next"],
        learning_starts=loop["learning_starts"],
        step=step,
        last_log_step=loop["last_log_step"],
        seconds_before=loop["seconds"],
        recent_returns=loop["recent_returns"],
        updates=[UpdateStats(**u) for u in loop["updates"]],
        result=result,
    )
    if checkpoint["buffer"] is not None:
        buffer.load_state_dict(checkpoint["buffer"])
    else:
        state.learning_starts = step + learning_starts
        log.warning("the checkpoint holds no replay buffer: learning resumes once it refills")
    envs_saved = checkpoint["envs"] is not None and restore_env_state(envs, checkpoint["envs"])
    if not envs_saved:
        buffer.drop_pending()  # the episodes of the pending n-step windows will not go on
        log.warning("the env's state could not be saved: episodes restart at the resume step")
        state.obs, _ = envs.reset(seed=seed + step)
        state.resets_next = np.zeros(envs.num_envs, dtype=bool)
    return state, restore_rng_states(checkpoint["rng"])
