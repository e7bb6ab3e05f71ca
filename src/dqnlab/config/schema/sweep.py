"""Schemas of the sweep config (conf/sweep.yaml, sweeps/*.yaml) and its samplers and pruners."""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from dqnlab.config.schema.rules import one_of, ranged
from dqnlab.config.schema.training import TrainConfig


@dataclass
class SweepSettingsConf:
    """The `sweep` section; the storage URL is checked when the sweep opens."""

    study_name: str = one_of(pattern=".+", shown="a non-empty name")
    """Optuna study; the same name resumes it."""
    storage: str = MISSING
    """Optuna storage URL: an SQLite file, or `postgresql://…` shared by workers on several
    machines."""
    registered_model: str = one_of(pattern=".+", shown="a non-empty name")
    """Registered model name of the champion (`models:/<name>@champion`)."""
    n_trials: int = ranged(ge=1)
    """Finished (complete and pruned) trials the study aims for."""
    workers: int = ranged(ge=1)
    """Parallel workers under `-m`."""
    seeds_per_trial: int = ranged(ge=1)
    """Seeds trained per trial (`seed`, `seed + 1`, …); the objective averages them."""
    objective: str = one_of("test", "last_k", "auc")  # dqnlab.sweep.study.OBJECTIVES
    """A run's score: `test`, its best model's mean return on `trainer.test_episodes` unseen
    episodes; `last_k`, the mean of its last `objective_last_k` evaluations; `auc`, the area
    under its greedy eval curve divided by the env steps it spans."""
    objective_last_k: int = ranged(ge=1)
    """Evaluations averaged by `objective=last_k` and in the values pruners see."""
    prune_after_decay: float = ranged(ge=0, le=1)
    """No pruning before `learning_starts` plus this share of `exploration.decay_steps`."""
    prune_after_steps: int = ranged(ge=0)
    """No pruning before this env step either."""
    heartbeat_interval: int = ranged(ge=1)
    """Seconds between a running trial's heartbeats."""
    grace_period: int = ranged(ge=1)  # and more than heartbeat_interval (SweepSettings)
    """Seconds of silence after which a trial is failed and re-queued (its worker died)."""
    max_retry: int = ranged(ge=0)
    """Re-queues of one trial after its worker died."""
    enqueue_baseline: bool = MISSING
    """The first trial runs the config's own values of the searched keys."""
    space: dict[str, Any] = field(default_factory=dict)  # parsed by dqnlab.sweep.space
    """The search space, set by the sweep definition (`sweeps/<name>.yaml`)."""
    sampler: Any = MISSING  # typed by the sampler option's schema
    pruner: Any = MISSING  # typed by the pruner option's schema


@dataclass
class SweepConfig(TrainConfig):
    """The training config plus this worker's index and the sweep section."""

    worker: int = MISSING
    """This worker's index, set by the multirun (pins a GPU when several are visible)."""
    sweep: SweepSettingsConf = field(default_factory=SweepSettingsConf)


@dataclass
class RandomSamplerConf:
    """sampler=random."""

    _target_: str = MISSING
    """The Optuna sampler class."""
    seed: int | None = None
    """Sampler seed; worker i uses seed + i."""


@dataclass
class TPESamplerConf(RandomSamplerConf):
    """sampler=tpe."""

    n_startup_trials: int = MISSING
    """Random trials before TPE models the space."""


@dataclass
class NopPrunerConf:
    """pruner=none."""

    _target_: str = MISSING
    """The Optuna pruner class."""


@dataclass
class MedianPrunerConf(NopPrunerConf):
    """pruner=median."""

    n_startup_trials: int = MISSING
    """Trials that always run to the end first."""
    n_warmup_steps: int = MISSING
    """Reports before which a trial is not pruned (on top of the sweep's warm-up)."""
    interval_steps: int = MISSING
    """Reports between pruning checks."""


@dataclass
class PatientPrunerConf(NopPrunerConf):
    """pruner=patient: a wrapped pruner asked only about trials that stopped improving."""

    wrapped_pruner: MedianPrunerConf = field(default_factory=MedianPrunerConf)
    """The pruner asked once a trial stopped improving."""
    patience: int = MISSING
    """Reports without a new best before the wrapped pruner is asked."""
    min_delta: float = MISSING
    """Least gain that counts as improving."""


@dataclass
class ThresholdPrunerConf(NopPrunerConf):
    """pruner=threshold."""

    lower: float = MISSING
    """A trial reporting below this is pruned."""


@dataclass
class SuccessiveHalvingPrunerConf(NopPrunerConf):
    """pruner=successive_halving."""

    min_resource: int | str = MISSING  # an int, or auto
    """Env steps before the first rung, or `auto`."""
    reduction_factor: int = MISSING
    """One trial in this many goes on at each rung."""


@dataclass
class HyperbandPrunerConf(NopPrunerConf):
    """pruner=hyperband."""

    min_resource: int = MISSING
    """Env steps before the first rung."""
    max_resource: int | str = MISSING  # an int, or auto
    """Env steps of a whole trial, or `auto`."""
    reduction_factor: int = MISSING
    """One trial in this many goes on at each rung."""
