"""Objects from config nodes with a `_target_` (Hydra's `instantiate`)."""

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from dqnlab.errors import ConfigError

# Class paths that runs, checkpoints and params.yaml recorded before dqnlab had subpackages,
# and where those classes live now: old runs still resume, evaluate and load.
MOVED_TARGETS = {
    "dqnlab.networks.MLPQNetwork": "dqnlab.agent.networks.MLPQNetwork",
    "dqnlab.networks.NatureCNN": "dqnlab.agent.networks.NatureCNN",
    "dqnlab.replay.UniformReplayBuffer": "dqnlab.replay.buffer.UniformReplayBuffer",
    "dqnlab.replay.PrioritizedReplayBuffer": "dqnlab.replay.buffer.PrioritizedReplayBuffer",
    "dqnlab.exploration.EpsilonGreedy": "dqnlab.agent.exploration.EpsilonGreedy",
    "dqnlab.exploration.Boltzmann": "dqnlab.agent.exploration.Boltzmann",
}


def current_target(target: str) -> str:
    """Where a recorded `_target_` lives today."""
    return MOVED_TARGETS.get(target, target)


def build(node: DictConfig, **kwargs: Any) -> Any:
    """`instantiate`, letting a ConfigError raised by a constructor reach the user as is."""
    target = node.get("_target_")
    if target in MOVED_TARGETS:
        kwargs["_target_"] = current_target(target)
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, ConfigError):
            raise exc.__cause__ from None
        raise
