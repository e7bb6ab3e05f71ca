"""Schemas of the sweep config (conf/sweep.yaml, sweeps/*.yaml) and its samplers and pruners."""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from dqnlab.config.schema.training import TrainConfig


@dataclass
class SweepSettingsConf:
    """The `sweep` section; ranges and the storage URL are checked when the sweep opens."""

    study_name: str = MISSING
    storage: str = MISSING
    registered_model: str = MISSING
    n_trials: int = MISSING
    workers: int = MISSING
    seeds_per_trial: int = MISSING
    objective: str = MISSING
    objective_last_k: int = MISSING
    prune_after_decay: float = MISSING
    prune_after_steps: int = MISSING
    heartbeat_interval: int = MISSING
    grace_period: int = MISSING
    max_retry: int = MISSING
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
