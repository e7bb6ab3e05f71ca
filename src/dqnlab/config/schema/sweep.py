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
    storage: str = MISSING
    registered_model: str = one_of(pattern=".+", shown="a non-empty name")
    n_trials: int = ranged(ge=1)
    workers: int = ranged(ge=1)
    seeds_per_trial: int = ranged(ge=1)
    objective: str = one_of("test", "last_k", "auc")  # dqnlab.sweep.study.OBJECTIVES
    objective_last_k: int = ranged(ge=1)
    prune_after_decay: float = ranged(ge=0, le=1)
    prune_after_steps: int = ranged(ge=0)
    heartbeat_interval: int = ranged(ge=1)
    grace_period: int = ranged(ge=1)  # and more than heartbeat_interval (SweepSettings)
    max_retry: int = ranged(ge=0)
    enqueue_baseline: bool = MISSING
    space: dict[str, Any] = field(default_factory=dict)  # parsed by dqnlab.sweep.space
    sampler: Any = MISSING  # typed by the sampler option's schema
    pruner: Any = MISSING  # typed by the pruner option's schema


@dataclass
class SweepConfig(TrainConfig):
    """The training config plus this worker's index and the sweep section."""

    worker: int = MISSING
    sweep: SweepSettingsConf = field(default_factory=SweepSettingsConf)


@dataclass
class RandomSamplerConf:
    """sampler=random."""

    _target_: str = MISSING
    seed: int | None = None


@dataclass
class TPESamplerConf(RandomSamplerConf):
    """sampler=tpe."""

    n_startup_trials: int = MISSING


@dataclass
class NopPrunerConf:
    """pruner=none."""

    _target_: str = MISSING


@dataclass
class MedianPrunerConf(NopPrunerConf):
    """pruner=median."""

    n_startup_trials: int = MISSING
    n_warmup_steps: int = MISSING
    interval_steps: int = MISSING


@dataclass
class PatientPrunerConf(NopPrunerConf):
    """pruner=patient: a wrapped pruner asked only about trials that stopped improving."""

    wrapped_pruner: MedianPrunerConf = field(default_factory=MedianPrunerConf)
    patience: int = MISSING
    min_delta: float = MISSING


@dataclass
class ThresholdPrunerConf(NopPrunerConf):
    """pruner=threshold."""

    lower: float = MISSING


@dataclass
class SuccessiveHalvingPrunerConf(NopPrunerConf):
    """pruner=successive_halving."""

    min_resource: int | str = MISSING  # an int, or auto
    reduction_factor: int = MISSING


@dataclass
class HyperbandPrunerConf(NopPrunerConf):
    """pruner=hyperband."""

    min_resource: int = MISSING
    max_resource: int | str = MISSING  # an int, or auto
    reduction_factor: int = MISSING
