"""TD targets: bootstrap through truncations, never through terminations."""

import pytest
import torch

from dqnlab.agent.targets import double_q, max_q, td_target


def test_td_target_matches_hand_computed_values() -> None:
    rewards = torch.tensor([1.0, 0.5, -1.0])
    next_q = torch.tensor([10.0, 4.0, 2.0])
    terminated = torch.tensor([0.0, 1.0, 0.0])
    # 1 + 0.9*10 = 10; terminal: 0.5; -1 + 0.9*2 = 0.8
    expected = torch.tensor([10.0, 0.5, 0.8])
    assert torch.allclose(td_target(rewards, next_q, terminated, 0.9), expected)


def test_truncated_transition_bootstraps_like_a_non_terminal_one() -> None:
    # A time-limit truncation is stored with terminated=0: its target keeps gamma * Q(s').
    target = td_target(torch.tensor([1.0]), torch.tensor([5.0]), torch.tensor([0.0]), 0.99)
    assert target.item() == pytest.approx(1.0 + 0.99 * 5.0)


def test_per_sample_discounts_are_supported() -> None:
    gammas = torch.tensor([0.9, 0.81])
    target = td_target(torch.zeros(2), torch.ones(2), torch.zeros(2), gammas)
    assert torch.allclose(target, gammas)


def test_max_q_takes_best_action_per_row() -> None:
    assert max_q(torch.tensor([[1.0, 3.0], [-2.0, -5.0]])).tolist() == [3.0, -2.0]


def test_double_q_evaluates_the_online_choice_with_the_target_net() -> None:
    online = torch.tensor([[1.0, 2.0, 0.0], [5.0, 0.0, 4.0]])  # picks a'=1, a'=0
    target = torch.tensor([[7.0, 3.0, 9.0], [-1.0, 8.0, 2.0]])
    assert double_q(online, target).tolist() == [3.0, -1.0]
    assert max_q(target).tolist() == [9.0, 8.0]  # vanilla would take the target's own max
