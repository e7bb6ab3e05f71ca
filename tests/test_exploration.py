"""Exploration schedules and epsilon-greedy action selection."""

import numpy as np
import pytest
import torch

from dqnlab.errors import ConfigError
from dqnlab.exploration import DecaySchedule, EpsilonGreedy


def test_linear_schedule_hits_hand_computed_points() -> None:
    schedule = DecaySchedule(1.0, 0.1, 100, "linear")
    assert schedule(0) == 1.0
    assert schedule(50) == pytest.approx(0.55)
    assert schedule(100) == pytest.approx(0.1)
    assert schedule(10_000) == pytest.approx(0.1)


def test_exponential_schedule_is_geometric() -> None:
    schedule = DecaySchedule(1.0, 0.01, 100, "exponential")
    assert schedule(50) == pytest.approx(0.1)  # halfway in log space
    assert schedule(100) == pytest.approx(0.01)
    assert schedule(500) == pytest.approx(0.01)


def test_exponential_schedule_rejects_zero_end() -> None:
    with pytest.raises(ConfigError, match="exponential"):
        DecaySchedule(1.0, 0.0, 100, "exponential")


def test_unknown_decay_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"exploration\.decay"):
        DecaySchedule(1.0, 0.1, 100, "cosine")


def test_epsilon_zero_always_picks_greedy_action() -> None:
    policy = EpsilonGreedy(0.0, 0.0, 1)
    q = torch.tensor([[0.0, 5.0, 1.0], [9.0, 0.0, 1.0]])
    actions = policy.select(0, lambda: q, 3, 2, np.random.default_rng(0))
    assert actions.tolist() == [1, 0]


def test_epsilon_one_never_evaluates_the_network() -> None:
    policy = EpsilonGreedy(1.0, 1.0, 1)

    def fail() -> torch.Tensor:
        raise AssertionError("q-values must not be computed when every env explores")

    actions = policy.select(0, fail, 4, 1000, np.random.default_rng(0))
    assert set(actions.tolist()) == {0, 1, 2, 3}


def test_random_action_rate_follows_epsilon() -> None:
    policy = EpsilonGreedy(0.3, 0.3, 1)
    q = torch.zeros(20_000, 2)
    q[:, 1] = 1.0  # greedy action is 1; random picks 0 half the time
    actions = policy.select(0, lambda: q, 2, 20_000, np.random.default_rng(0))
    assert (actions == 0).mean() == pytest.approx(0.15, abs=0.01)
