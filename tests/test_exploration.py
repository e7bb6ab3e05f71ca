"""Exploration schedules, epsilon-greedy and Boltzmann action selection."""

import numpy as np
import pytest
import torch

from dqnlab.agent.exploration import Boltzmann, DecaySchedule, EpsilonGreedy


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


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [(1.0, [1 / 7, 2 / 7, 4 / 7]), (0.5, [1 / 21, 4 / 21, 16 / 21])],  # weights e^(Q/T)
)
def test_boltzmann_samples_follow_the_softmax(temperature: float, expected: list[float]) -> None:
    q = torch.log(torch.tensor([[1.0, 2.0, 4.0]])).repeat(60_000, 1)  # e^Q = 1, 2, 4
    policy = Boltzmann(temperature, temperature, 1)
    actions = policy.select(0, lambda: q, 3, 60_000, np.random.default_rng(0))
    # 60k draws: the standard error of each frequency is below 0.002.
    assert np.allclose(np.bincount(actions, minlength=3) / 60_000, expected, atol=0.01)


def test_boltzmann_does_not_overflow_on_large_q_values() -> None:
    q = torch.tensor([[1e4, 0.0]]).repeat(100, 1)
    actions = Boltzmann(0.01, 0.01, 1).select(0, lambda: q, 2, 100, np.random.default_rng(0))
    assert (actions == 0).all()


def test_boltzmann_temperature_decays_and_is_logged() -> None:
    policy = Boltzmann(1.0, 0.01, 100, "exponential")
    assert policy.stats(0) == {"temperature": 1.0}
    assert policy.stats(50)["temperature"] == pytest.approx(0.1)
    q = torch.tensor([[0.0, 0.5]]).repeat(1000, 1)
    late = policy.select(100, lambda: q, 2, 1000, np.random.default_rng(0))
    assert (late == 1).all()  # at T = 0.01 a 0.5 gap is e^50 to 1: always greedy
