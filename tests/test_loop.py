"""The training loop on a counting env: what enters the buffer around episode ends."""

from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from dqnlab.agent.exploration import EpsilonGreedy
from dqnlab.agent.learner import DQNLearner
from dqnlab.agent.networks import MLPQNetwork
from dqnlab.envs.factory import make_vector_env
from dqnlab.replay.buffer import UniformReplayBuffer
from dqnlab.training.callbacks import Checkpointer, EpisodeRecorder, Evaluator, TrainLogger
from dqnlab.training.loop import train
from dqnlab.training.state import LoopSettings, Training, crossed, start_state

EPISODE_CAP = 7  # time limit: truncation
TERMINAL_AT = 5  # action 1 at exactly position 5 terminates
GAMMA = 0.9


class CountingEnv(gym.Env):
    """Observation = [episode id, position]; reward = position; easy to audit transitions."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.episode = getattr(self, "episode", -1) + 1
        self.position = 0
        return self._obs(), {}

    def step(self, action: int):
        self.position += 1
        terminated = bool(action == 1 and self.position == TERMINAL_AT)
        return self._obs(), float(self.position), terminated, False, {}

    def _obs(self) -> np.ndarray:
        return np.array([self.episode, self.position], dtype=np.float32)


gym.register("CountingEnv-v0", entry_point=CountingEnv, max_episode_steps=EPISODE_CAP)


class ListSink:
    def __init__(self) -> None:
        self.points: list[tuple[str, float, int]] = []
        self.unsent: list[tuple[str, float, int, int]] = []  # everything is kept at once
        self.gave_up = False

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.points += [(k, float(v), step) for k, v in metrics.items()]

    def maybe_flush(self) -> None:
        pass

    def flush(self) -> None:
        pass


def run_counting_env(tmp_path: Path, num_envs: int, total_steps: int = 300, n_step: int = 1):
    envs = make_vector_env("CountingEnv-v0", num_envs)
    eval_envs = make_vector_env("CountingEnv-v0", 2)
    torch.manual_seed(0)
    learner = DQNLearner(MLPQNetwork((2,), 2, (8,)), partial(torch.optim.Adam, lr=1e-3))
    buffer = UniformReplayBuffer(1000, (2,), seed=0, n_step=n_step, gamma=GAMMA, num_envs=num_envs)
    settings = LoopSettings(
        total_steps=total_steps,
        learning_starts=50,
        batch_size=16,
        train_freq=4,
        gradient_steps=1,
        target_sync_period=20,
        tau=1.0,
    )
    sink = ListSink()
    exploration = EpsilonGreedy(1.0, 0.5, 100)
    state = start_state(envs, settings, seed=0)
    run = Training(
        envs,
        learner,
        buffer,
        exploration,
        settings,
        torch.device("cpu"),
        np.random.default_rng(0),
        state,
    )
    callbacks = [
        EpisodeRecorder(sink),
        TrainLogger(sink, every=50),
        Evaluator(eval_envs, every=100, seed=99, epsilon=0.0, metrics=sink),
        Checkpointer(tmp_path / "c.pt", every=100, with_buffer=True, metrics=sink, meta={}),
    ]
    result = train(run, callbacks)
    return result, buffer, sink


def test_no_transition_crosses_an_autoreset_boundary(tmp_path: Path) -> None:
    for num_envs in (1, 3):
        result, buffer, _ = run_counting_env(tmp_path, num_envs)
        obs, next_obs = buffer.storage.obs[: len(buffer)], buffer.storage.next_obs[: len(buffer)]
        # Same episode, one position further: never a reset observation as next state.
        assert np.array_equal(next_obs[:, 0], obs[:, 0])
        assert np.array_equal(next_obs[:, 1], obs[:, 1] + 1)
        assert np.array_equal(buffer.storage.rewards[: len(buffer)], next_obs[:, 1])
        # Terminations are flagged; truncations (time limit) are stored as non-terminal.
        terminated = buffer.storage.terminated[: len(buffer)].astype(bool)
        assert terminated.any() and (next_obs[terminated, 1] == TERMINAL_AT).all()
        truncated = next_obs[:, 1] == EPISODE_CAP
        assert truncated.any() and not terminated[truncated].any()
        # Every transition stored counts as one env step; dummy reset steps do not.
        assert len(buffer) == result.steps >= 300
        assert np.allclose(buffer.storage.discounts[: len(buffer)], GAMMA)


def test_n_step_transitions_stay_inside_their_episode(tmp_path: Path) -> None:
    """3-step returns from the loop: rewards summed up to an episode end, never across it."""
    for num_envs in (1, 3):
        result, buffer, _ = run_counting_env(tmp_path, num_envs, n_step=3)
        size = len(buffer)
        obs, next_obs = buffer.storage.obs[:size], buffer.storage.next_obs[:size]
        k = next_obs[:, 1] - obs[:, 1]  # rewards summed: 3, fewer only at an episode end
        assert np.array_equal(next_obs[:, 0], obs[:, 0])
        assert set(k.tolist()) == {1, 2, 3}
        ended = (next_obs[:, 1] == EPISODE_CAP) | (buffer.storage.terminated[:size] == 1)
        assert ended[k < 3].all()
        # reward at position p is p: sum_i gamma^i (p + 1 + i) over the k rewards
        expected = [
            sum(GAMMA**i * (p + 1 + i) for i in range(int(n)))
            for p, n in zip(obs[:, 1], k, strict=True)
        ]
        assert np.allclose(buffer.storage.rewards[:size], expected)
        assert np.allclose(buffer.storage.discounts[:size], GAMMA**k)
        terminated = buffer.storage.terminated[:size].astype(bool)
        assert terminated.any() and (next_obs[terminated, 1] == TERMINAL_AT).all()
        truncated = next_obs[:, 1] == EPISODE_CAP
        assert truncated.any() and not terminated[truncated].any()
        # Only the last steps of each env's unfinished episode are still waiting.
        assert result.steps - 2 * num_envs <= size <= result.steps


def test_episode_metrics_and_evaluations_are_reported(tmp_path: Path) -> None:
    result, _, sink = run_counting_env(tmp_path, 1)
    names = {name for name, _, _ in sink.points}
    assert {
        "train/episode_return",
        "train/episode_length",
        "train/loss",
        "train/q_mean",
        "train/epsilon",
        "train/sps",
        "eval/return_mean",
        "eval/return_std",
    } <= names
    assert [e.step for e in result.evals] == [100, 200, 300]
    assert (tmp_path / "c.pt").exists()


@pytest.mark.parametrize("num_envs", [1, 3])
def test_each_finished_episode_is_recorded_whole(tmp_path: Path, num_envs: int) -> None:
    """Every episode ends by termination (position 5) or the time limit (7) and earns
    1 + 2 + ... + length; the autoreset step after it counts towards no episode."""
    result, _, sink = run_counting_env(tmp_path, num_envs)
    lengths = [v for name, v, _ in sink.points if name == "train/episode_length"]
    returns = [v for name, v, _ in sink.points if name == "train/episode_return"]
    assert set(lengths) == {TERMINAL_AT, EPISODE_CAP}
    assert returns == [length * (length + 1) / 2 for length in lengths]
    # Only each env's unfinished last episode is missing from the recorded steps.
    assert result.steps - num_envs * EPISODE_CAP < sum(lengths) <= result.steps


def test_crossed_counts_period_multiples() -> None:
    assert crossed(0, 4, 4) == 1
    assert crossed(3, 4, 4) == 1
    assert crossed(4, 7, 4) == 0
    assert crossed(5, 17, 4) == 3
