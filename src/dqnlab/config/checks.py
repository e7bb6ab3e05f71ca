"""Value checks on a composed config, run before any environment, file or MLflow run is made.

Hydra already rejects unknown groups, options and keys at composition, and the schemas
(dqnlab.config.schema) reject wrong types; each key's allowed values are declared with it
in its schema (dqnlab.config.schema.rules), and applied here, with the rules across keys.
"""

import inspect
from dataclasses import fields, is_dataclass
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from omegaconf import DictConfig, ListConfig, OmegaConf

from dqnlab.config.instantiation import current_target
from dqnlab.config.schema import SCHEMAS
from dqnlab.config.schema.rules import RULE, OneOf, Rule
from dqnlab.errors import ConfigError

# The evaluate command's model reference forms (conf/evaluate.yaml).
ALLOWED_FORMS = (
    "use a run id, runs:/<run id>/best_model, models:/<name>@<alias>, models:/<name>/<version> "
    "or the path of a checkpoint.pt or model.pt"
)


def check_config(cfg: DictConfig) -> None:
    """The training config: raise ConfigError naming the first bad key and what it allows."""
    missing = OmegaConf.missing_keys(cfg)
    if missing:
        raise ConfigError(
            f"{sorted(missing)[0]} has no value: set it in its option or on the command line"
        )
    check_rules(cfg, SCHEMAS["train"])
    if cfg.buffer.capacity < cfg.agent.batch_size:
        raise ConfigError(
            f"buffer.capacity={cfg.buffer.capacity} is smaller than "
            f"agent.batch_size={cfg.agent.batch_size}: it must hold at least one batch"
        )
    exploration = cfg.exploration
    if exploration.decay == "exponential" and min(exploration.start, exploration.end) <= 0:
        raise ConfigError("exploration.decay=exponential needs start and end > 0")


def check_evaluate_config(cfg: DictConfig) -> None:
    """The evaluate command's values; the model reference itself is checked as it loads."""
    if OmegaConf.is_missing(cfg, "model"):
        raise ConfigError(f"model= is required: {ALLOWED_FORMS}")
    check_rules(cfg, SCHEMAS["evaluate"])


def check_compare_config(cfg: DictConfig) -> None:
    """The compare command's values."""
    check_rules(cfg, SCHEMAS["compare"])


def check_rules(node: DictConfig, schema: type, prefix: str = "") -> None:
    """Every key's value passes the rule its schema declares; nested nodes are checked with
    the schema they were composed with (the option a config group chose)."""
    for spec in fields(schema):
        key, value = f"{prefix}{spec.name}", node.get(spec.name)
        if isinstance(value, DictConfig):
            child = OmegaConf.get_type(node, spec.name)
            if is_dataclass(child):
                check_rules(value, child, f"{key}.")
        rule = spec.metadata.get(RULE)
        if value is None and _nullable(spec.type):
            continue
        if _base_type(spec.type) is bool and not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} is not allowed: expected true or false")
        if rule is None:
            continue
        items = list(value) if isinstance(value, ListConfig) else [value]
        if not all(_allows(rule, item, _base_type(spec.type)) for item in items):
            raise ConfigError(f"{key}={_plain(value)!r} is not allowed: {_expected(rule, spec)}")


def check_targets(cfg: DictConfig) -> None:
    """Every `_target_` names something importable, and its keys are arguments it takes.

    Importing a target may load torch: the entry scripts' preflight leaves this to `run`.
    """
    from hydra._internal.utils import _locate  # what `instantiate` resolves targets with

    for key, node in _target_nodes(cfg):
        target = current_target(node._target_)
        try:
            obj = _locate(target)
        except ImportError as exc:
            reason = " ".join(str(exc).split(".")[0].split())
            raise ConfigError(f"{key}._target_={target!r} cannot be imported: {reason}") from None
        names = [k for k in node if not str(k).startswith("_")]
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):  # a builtin without a signature: instantiate decides
            continue
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for name in names:
            if name not in params and not takes_any:
                raise ConfigError(
                    f"{key}.{name} is not an argument of {target}: "
                    f"known arguments are [{', '.join(params)}]"
                )
    optimizer = current_target(cfg.agent.optimizer._target_)
    if cfg.agent.update_mode == "graph" and "capturable" not in _parameters(_locate(optimizer)):
        raise ConfigError(
            f"agent.update_mode=graph needs an optimizer that takes capturable (as Adam, "
            f"AdamW and RMSprop do): agent.optimizer._target_={optimizer!r} does not"
        )


def _parameters(obj: Any) -> list[str]:
    """The names `obj` takes; none known for a builtin without a signature."""
    try:
        return list(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return []


def _target_nodes(node: DictConfig, prefix: str = "") -> list[tuple[str, DictConfig]]:
    found = [(prefix.rstrip("."), node)] if "_target_" in node else []
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            found += _target_nodes(child, f"{prefix}{key}.")
    return found


def _allows(rule: Rule, item: Any, base_type: Any) -> bool:
    """The rule allows the item, and an integer key holds an integer (a config composed
    without its schema, such as a sweep section read back from a study, is not typed)."""
    integer = base_type is int and (isinstance(item, bool) or not isinstance(item, int))
    return not integer and rule.allows(item)


def _expected(rule: Rule, spec: Any) -> str:
    if isinstance(rule, OneOf):
        return f"use one of {rule.shown()}" if rule.options else f"expected {rule.pattern_shown}"
    integer = _base_type(spec.type) is int
    return f"expected {rule.describe(integer)}" + (" or null" if _nullable(spec.type) else "")


def _nullable(hint: Any) -> bool:
    return get_origin(hint) in (Union, UnionType) and NoneType in get_args(hint)


def _base_type(hint: Any) -> Any:
    """`int | None` -> int; `list[int]` -> int."""
    if get_origin(hint) in (Union, UnionType):
        hint = next(arg for arg in get_args(hint) if arg is not NoneType)
    return get_args(hint)[0] if get_origin(hint) is list else hint


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
