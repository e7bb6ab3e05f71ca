"""OmegaConf resolvers the config files use."""

import re

from omegaconf import OmegaConf


def env_name(env_id: str) -> str:
    """A short lowercase name for an env id, for experiment and run names:
    `CartPole-v1` -> cartpole, `ALE/Pong-v5` -> pong, `my_pkg:MyEnv-v0` -> myenv."""
    name = env_id.rpartition(":")[2].rpartition("/")[2]
    name = re.sub(r"-v\d+$", "", name)
    return re.sub(r"[^a-z0-9]+", "", name.lower()) or "env"


def register_resolvers() -> None:
    """`${env_name:${.id}}` (conf/env/*.yaml): env.name follows env.id unless it is set."""
    OmegaConf.register_new_resolver("env_name", env_name, replace=True)
