"""Schedules driven by env steps: epsilon, temperature, learning rate, prioritized replay's beta."""

from collections.abc import Callable
from dataclasses import dataclass

# How a value moves from `start` to `end` as `frac` goes from 0 to 1.
DECAYS: dict[str, Callable[[float, float, float], float]] = {
    "linear": lambda start, end, frac: start + frac * (end - start),
    # A constant factor per step: longer near small values; start and end must be > 0.
    "exponential": lambda start, end, frac: start * (end / start) ** frac,
}


@dataclass(frozen=True)
class DecaySchedule:
    """A value moving from `start` to `end` over `decay_steps` env steps, then held at `end`.

    `decay` names one of DECAYS; the config checks (dqnlab.config) refuse other names and an
    exponential decay through zero before anything is built.
    """

    start: float
    end: float
    decay_steps: int
    decay: str = "linear"

    def __call__(self, step: int) -> float:
        return DECAYS[self.decay](self.start, self.end, min(step / self.decay_steps, 1.0))
