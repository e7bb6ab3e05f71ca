"""Objects from config nodes with a `_target_` (Hydra's `instantiate`)."""

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from dqnlab.errors import ConfigError


def build(node: DictConfig, **kwargs: Any) -> Any:
    """`instantiate`, letting a ConfigError raised by a constructor reach the user as is."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, ConfigError):
            raise exc.__cause__ from None
        raise
