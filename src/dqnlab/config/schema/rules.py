"""Allowed values, declared with each schema key: `gamma: float = ranged(gt=0, le=1)`.

Types are Hydra's to check (at composition); these rules say which values of the right
type can work. dqnlab.config.checks applies them to the options a config chose, so a new
key gets its range where it is declared.
"""

import re
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

from omegaconf import MISSING

RULE = "rule"  # the dataclass field metadata key


@dataclass(frozen=True)
class Range:
    """A number within bounds (each open, closed or absent); for a list, each item."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    noun: str | None = None  # "a probability", "a temperature"; else from the type

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, Real):
            return False
        return (
            (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
            and (self.lt is None or value < self.lt)
            and (self.le is None or value <= self.le)
        )

    def describe(self, integer: bool) -> str:
        """`an integer >= 1`, `a number in (0, 1]`, `a probability in [0, 1]`."""
        noun = self.noun or ("an integer" if integer else "a number")
        low, high = _first(self.gt, self.ge), _first(self.lt, self.le)
        if low is not None and high is not None:
            left, right = "(" if self.gt is not None else "[", ")" if self.lt is not None else "]"
            return f"{noun} in {left}{_num(low)}, {_num(high)}{right}"
        if low is not None:
            return f"{noun} {'>' if self.gt is not None else '>='} {_num(low)}"
        if high is not None:
            return f"{noun} {'<' if self.lt is not None else '<='} {_num(high)}"
        return noun


@dataclass(frozen=True)
class OneOf:
    """One of a few names, or a string matching `pattern` (shown as `pattern_shown`)."""

    options: tuple[str, ...]
    pattern: str | None = None
    pattern_shown: str | None = None

    def allows(self, value: Any) -> bool:
        if value in self.options:
            return True
        return (
            self.pattern is not None
            and isinstance(value, str)
            and bool(re.fullmatch(self.pattern, value))
        )

    def shown(self) -> list[str]:
        return [*self.options, *([self.pattern_shown] if self.pattern_shown else [])]


Rule = Range | OneOf


def ranged(
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    noun: str | None = None,
    default: Any = MISSING,
) -> Any:
    """A schema field whose value (or each item of a list) must lie in the given bounds."""
    return field(default=default, metadata={RULE: Range(gt, ge, lt, le, noun)})


def one_of(*options: str, pattern: str | None = None, shown: str | None = None) -> Any:
    """A schema field that must be one of `options` (or match `pattern`, shown as `shown`)."""
    return field(default=MISSING, metadata={RULE: OneOf(tuple(options), pattern, shown)})


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
