"""Exploration: epsilon-greedy and Boltzmann action selection on a decaying schedule."""

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

from dqnlab.schedules import DecaySchedule


class Exploration(Protocol):
    """Picks the behaviour actions of every env at an env step."""

    def stats(self, step: int) -> dict[str, float]:
        """Values worth logging at `step` (logged as train/<name>)."""
        ...

    def select(
        self,
        step: int,
        q_values: Callable[[], torch.Tensor],
        n_actions: int,
        num_envs: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One action per env; `q_values()` gives the online net's Q-values of the batch."""
        ...


def epsilon_greedy(
    q_values: Callable[[], torch.Tensor],
    epsilon: float,
    n_actions: int,
    num_envs: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One action per env: uniformly random with probability `epsilon`, else the greedy one.

    Training, evaluation and playback all choose this way. `q_values()` (the batch's
    Q-values) is only evaluated when some env acts greedily.
    """
    explore = rng.random(num_envs) < epsilon
    actions = rng.integers(0, n_actions, size=num_envs)
    if not explore.all():
        greedy = q_values().argmax(dim=1).cpu().numpy()
        actions = np.where(explore, actions, greedy)
    return actions


class EpsilonGreedy:
    """With probability epsilon a uniformly random action, otherwise the greedy one."""

    def __init__(self, start: float, end: float, decay_steps: int, decay: str = "linear") -> None:
        self.epsilon = DecaySchedule(start, end, decay_steps, decay)

    def stats(self, step: int) -> dict[str, float]:
        """Values worth logging at `step`."""
        return {"epsilon": self.epsilon(step)}

    def select(
        self,
        step: int,
        q_values: Callable[[], torch.Tensor],
        n_actions: int,
        num_envs: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Pick one action per env as `epsilon_greedy` does, at this step's epsilon."""
        return epsilon_greedy(q_values, self.epsilon(step), n_actions, num_envs, rng)


class Boltzmann:
    """Actions drawn from softmax(Q / temperature); the temperature decays like epsilon.

    A high temperature is near-uniform, a low one near-greedy. The temperature is in the
    units of Q (returns), so a good range depends on the env's reward scale.
    """

    def __init__(self, start: float, end: float, decay_steps: int, decay: str = "linear") -> None:
        self.temperature = DecaySchedule(start, end, decay_steps, decay)

    def stats(self, step: int) -> dict[str, float]:
        """Values worth logging at `step`."""
        return {"temperature": self.temperature(step)}

    def select(
        self,
        step: int,
        q_values: Callable[[], torch.Tensor],
        n_actions: int,
        num_envs: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Sample one action per env with the Gumbel-max trick.

        argmax(Q / T + Gumbel noise) is distributed exactly as softmax(Q / T), with no
        exponentials to overflow at small temperatures.
        """
        q = q_values().cpu().numpy().astype(np.float64)
        gumbel = rng.gumbel(size=(num_envs, n_actions))
        return (q / self.temperature(step) + gumbel).argmax(axis=1)
