"""Exploration: decay schedules, epsilon-greedy and Boltzmann action selection."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from dqnlab.errors import ConfigError

DECAYS = ("linear", "exponential")


@dataclass(frozen=True)
class DecaySchedule:
    """A value moving from `start` to `end` over `decay_steps` env steps, then held at `end`.

    `linear` interpolates; `exponential` interpolates geometrically (a constant factor per
    step), so it spends longer near small values and needs `start` and `end` above zero.
    """

    start: float
    end: float
    decay_steps: int
    decay: str = "linear"

    def __post_init__(self) -> None:
        if self.decay not in DECAYS:
            raise ConfigError(
                f"exploration.decay={self.decay!r} is not allowed: use one of {list(DECAYS)}"
            )
        if self.decay == "exponential" and min(self.start, self.end) <= 0:
            raise ConfigError("exploration.decay=exponential needs start and end > 0")

    def __call__(self, step: int) -> float:
        frac = min(step / self.decay_steps, 1.0)
        if self.decay == "linear":
            return self.start + frac * (self.end - self.start)
        return self.start * (self.end / self.start) ** frac


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
        """Pick one action per env; `q_values` is only evaluated when some env acts greedily."""
        explore = rng.random(num_envs) < self.epsilon(step)
        actions = rng.integers(0, n_actions, size=num_envs)
        if not explore.all():
            greedy = q_values().argmax(dim=1).cpu().numpy()
            actions = np.where(explore, actions, greedy)
        return actions


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
