"""The study every worker joins: settings, sampler and pruner, budget, space check."""

import json
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from dqnlab.config.checks import check_rules
from dqnlab.config.instantiation import build
from dqnlab.config.schema.sweep import SweepSettingsConf
from dqnlab.errors import ConfigError

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# sweep.objective: what one run of a trial scores (dqnlab.sweep.objective.run_score)
OBJECTIVES = {
    "test": "mean return of each run's best model on {episodes} unseen test episodes",
    "last_k": "mean greedy eval return of each run's last {k} evals",
    "auc": "area under each run's greedy eval curve per env step (its mean level)",
}
SPACE_ATTR = "search_space"


@dataclass(frozen=True)
class SweepSettings:
    """The `sweep` section's scalar settings, checked."""

    study_name: str
    storage: str
    registered_model: str
    n_trials: int
    workers: int
    seeds_per_trial: int
    objective: str
    objective_last_k: int
    prune_after_decay: float
    prune_after_steps: int
    heartbeat_interval: int
    grace_period: int
    max_retry: int
    enqueue_baseline: bool

    @classmethod
    def from_config(cls, sweep: DictConfig) -> "SweepSettings":
        check_rules(sweep, SweepSettingsConf, "sweep.")
        values = {name: sweep[name] for name in cls.__dataclass_fields__}
        if values["grace_period"] <= values["heartbeat_interval"]:
            raise ConfigError(
                f"sweep.grace_period={values['grace_period']} is not allowed: expected more "
                f"than sweep.heartbeat_interval={values['heartbeat_interval']}"
            )
        return cls(**values)


def build_sampler(node: DictConfig, worker: int) -> optuna.samplers.BaseSampler:
    """The sampler, its seed offset by the worker index so workers do not repeat each other."""
    overrides = {"seed": node.seed + worker} if node.get("seed") is not None else {}
    return _build("sampler", node, overrides)


def build_pruner(node: DictConfig) -> optuna.pruners.BasePruner:
    return _build("pruner", node, {})


def _build(kind: str, node: DictConfig, overrides: dict[str, Any]) -> Any:
    try:
        with warnings.catch_warnings():  # e.g. PatientPruner: experimental since 2.8
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return build(node, **overrides)
    except Exception as exc:  # a bad argument of an Optuna class
        reason = " ".join(str(exc.__cause__ or exc).split())
        target = node.get("_target_")
        raise ConfigError(f"sweep.{kind} ({target}) cannot be built: {reason}") from None


def open_study(
    storage: optuna.storages.BaseStorage,
    settings: SweepSettings,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    space: dict[str, BaseDistribution],
    first_params: dict[str, Any],
) -> optuna.Study:
    """Create the study or join it; a study searched over another space is refused.

    `first_params` (may be empty) are enqueued once, to be the first trial run.
    """
    study = optuna.create_study(
        storage=storage,
        study_name=settings.study_name,
        sampler=sampler,
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )
    signature = json.dumps({k: distribution_to_json(v) for k, v in sorted(space.items())})
    recorded = study.user_attrs.get(SPACE_ATTR)
    if recorded is None:
        study.set_user_attr(SPACE_ATTR, signature)
    elif recorded != signature:
        raise ConfigError(
            f"sweep.space differs from the space study '{settings.study_name}' was searched "
            "over: set a new sweep.study_name to search another space"
        )
    if first_params and not study.get_trials(deepcopy=False):
        study.enqueue_trial(first_params, user_attrs={"baseline": True}, skip_if_exists=True)
    return study


def count(study: optuna.Study, states: tuple[TrialState, ...] = FINISHED) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def budget_callbacks(n_trials: int) -> list[MaxTrialsCallback]:
    """Stop a worker once finished plus running trials reach the budget, or on repeated failure.

    Counting other workers' running trials keeps the total close to `n_trials` (Optuna's
    plain count of finished trials overshoots by up to workers - 1).
    """
    return [
        MaxTrialsCallback(n_trials, states=(*FINISHED, TrialState.RUNNING)),
        MaxTrialsCallback(n_trials, states=(TrialState.FAIL,)),
    ]


def space_summary(space: dict[str, BaseDistribution]) -> dict[str, str]:
    """One readable line per searched path, for MLflow params."""
    return {f"space.{path}": repr(dist) for path, dist in space.items()}


def config_summary(node: DictConfig) -> str:
    """`_target_` and arguments of a sampler or pruner node, as one line."""
    return json.dumps(OmegaConf.to_container(node, resolve=True), sort_keys=True)
