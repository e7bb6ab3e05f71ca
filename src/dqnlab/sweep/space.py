"""Search spaces: `sweep.space` entries as Optuna distributions and Hydra overrides."""

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from dqnlab.errors import ConfigError

TYPES = ("float", "int", "categorical")


def parse_space(space: DictConfig) -> dict[str, BaseDistribution]:
    """Map each searched config path ("agent.lr") to its distribution.

    Entries mirror the config tree; a leaf is a mapping with a `type`:
    `{type: float, low, high, log, step}`, `{type: int, low, high, log, step}` or
    `{type: categorical, choices}`. A path naming a config group ("buffer") searches
    over the group's options.
    """
    flat = _leaves(OmegaConf.to_container(space, resolve=True))
    if not flat:
        raise ConfigError("sweep.space is empty: give at least one parameter to search")
    return {path: _distribution(path, spec) for path, spec in flat.items()}


def _leaves(node: Mapping[str, Any], prefix: str = "") -> dict[str, Mapping[str, Any]]:
    leaves: dict[str, Mapping[str, Any]] = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"sweep.space.{path} must be a mapping with a type ({' | '.join(TYPES)})"
            )
        leaves |= {path: value} if "type" in value else _leaves(value, f"{path}.")
    return leaves


def _distribution(path: str, spec: Mapping[str, Any]) -> BaseDistribution:
    where = f"sweep.space.{path}"
    kind = spec["type"]
    allowed = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"}}
    allowed["categorical"] = {"choices"}
    if kind not in allowed:
        raise ConfigError(f"{where}.type={kind!r} is not allowed: use one of {list(TYPES)}")
    unknown = set(spec) - allowed[kind] - {"type"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {sorted(unknown)} for type {kind}: "
            f"allowed are {sorted(allowed[kind])}"
        )
    if kind == "categorical":
        choices = spec.get("choices")
        if not choices:
            raise ConfigError(f"{where}.choices is empty: give at least one choice")
        return CategoricalDistribution(list(choices))
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where} needs both low and high")
    low, high = spec["low"], spec["high"]
    if not low < high:
        raise ConfigError(f"{where}: empty or inverted range (low={low}, high={high})")
    kwargs = {"log": bool(spec.get("log", False)), "step": spec.get("step")}
    try:
        if kind == "int":
            return IntDistribution(int(low), int(high), log=kwargs["log"], step=kwargs["step"] or 1)
        return FloatDistribution(float(low), float(high), **kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    """Ask `trial` for a value of `name` from `distribution`."""
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, log=distribution.log, step=distribution.step
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, log=distribution.log, step=distribution.step
        )
    return trial.suggest_categorical(name, distribution.choices)


def bounds(distribution: BaseDistribution) -> list[Any]:
    """The values to try before any trial runs: both ends of a range, every choice."""
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    return [distribution.low, distribution.high]


def as_override(path: str, value: Any) -> str:
    """A Hydra override setting `path` to `value` ("agent.lr=0.0003", "buffer=prioritized")."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif value is None:
        text = "null"
    else:
        text = repr(value) if isinstance(value, float) else str(value)
    return f"{path}={text}"


def baseline(
    cfg: DictConfig, choices: Mapping[str, str], space: dict[str, BaseDistribution]
) -> dict[str, Any]:
    """The config's own values of the searched keys that lie inside their distributions.

    A searched config group ("buffer") takes the option the composition chose, from
    `choices` (Hydra's runtime choices, {"buffer": "uniform", …}). Enqueued as a sweep's
    first trial, they measure the defaults (the env's tuned values) with the same
    objective as every other trial.
    """
    values = {
        path: choices[path] if path in choices else OmegaConf.select(cfg, path) for path in space
    }
    return {path: v for path, v in values.items() if _contains(space[path], v)}


def _contains(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    if not distribution.low <= value <= distribution.high:
        return False
    step = distribution.step
    return step is None or math.isclose((value - distribution.low) / step % 1, 0, abs_tol=1e-9)
