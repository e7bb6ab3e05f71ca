"""TD targets as small pure functions."""

import torch


def td_target(
    rewards: torch.Tensor,
    next_q: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float | torch.Tensor,
) -> torch.Tensor:
    """r + gamma * Q(s', ·) with no bootstrap past a termination.

    Truncated transitions (time limits) carry terminated=0: their next state is real, so the
    target bootstraps from it.
    """
    return rewards + gamma * (1.0 - terminated) * next_q


def max_q(target_q: torch.Tensor) -> torch.Tensor:
    """Vanilla DQN's bootstrap value: the target network's best action value."""
    return target_q.max(dim=1).values


def double_q(online_q: torch.Tensor, target_q: torch.Tensor) -> torch.Tensor:
    """Double DQN's bootstrap value: the online net picks a', the target net evaluates it.

    Decoupling selection from evaluation removes max_a' Q's upward bias.
    """
    return target_q.gather(1, online_q.argmax(dim=1, keepdim=True)).squeeze(1)
