"""A trial's training config, composed from the sweep's config and the trial's overrides.

Hydra and OmegaConf only: the sweep's input checks use it before torch and MLflow load.
"""

from collections.abc import Sequence

from hydra import compose
from omegaconf import DictConfig, open_dict

SWEEP_KEYS = ("sweep", "worker")  # the sweep config's own keys: not part of a trial's config


def training_overrides(overrides: Sequence[str]) -> list[str]:
    """The command line's overrides of the training config (not the worker's or Hydra's)."""
    return [o for o in overrides if not o.startswith(("worker=", "hydra"))]


def trial_config(overrides: Sequence[str]) -> DictConfig:
    """The training config of a trial: the sweep's composition plus the trial's overrides."""
    cfg = compose("sweep", overrides=list(overrides))
    with open_dict(cfg):
        for key in SWEEP_KEYS:
            cfg.pop(key, None)
    return cfg


def group_choices(overrides: Sequence[str]) -> dict[str, str]:
    """The option each config group takes in this composition ({"buffer": "uniform", …})."""
    runtime = compose("sweep", overrides=list(overrides), return_hydra_config=True).hydra.runtime
    return {group: option for group, option in runtime.choices.items() if option is not None}
