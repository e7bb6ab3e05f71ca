"""Gymnasium environments: checks before a run and vectorised construction.

`env.kwargs` are keyword arguments of `gymnasium.make`, except with `preprocessing: atari`:
then they are the options of `dqnlab.envs.atari`, which builds the Atari envs.
"""

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from dqnlab.envs.atari import atari_options, make_atari_env, make_atari_vector_env
from dqnlab.errors import ConfigError

gym.register_envs(ale_py)  # makes ALE/… ids resolvable
ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner on every env made


@dataclass(frozen=True)
class EnvSpaces:
    """What the agent needs to know about an environment."""

    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    n_actions: int


def inspect_env(env_id: str, env_kwargs: Mapping[str, Any]) -> EnvSpaces:
    """Check that `env_id` exists and has discrete actions and a Box observation.

    `module:Env-v0` (gymnasium's form) imports `module` first, which registers the env.
    """
    module, _, name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
        gym.spec(name)
    except ImportError as exc:
        raise ConfigError(
            f"env.id={env_id!r}: module {module!r} cannot be imported: {exc}"
        ) from None
    except gym.error.Error as exc:
        raise ConfigError(
            f"env.id={env_id!r} is not a registered gymnasium environment "
            f"(e.g. CartPole-v1, LunarLander-v3, ALE/Pong-v5): {exc}"
        ) from None
    env = make_env(env_id, env_kwargs)
    try:
        obs_space, action_space = env.observation_space, env.action_space
    finally:
        env.close()
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ConfigError(
            f"env.id={env_id!r} has a {type(action_space).__name__} action space; "
            "DQN needs a Discrete one"
        )
    if not isinstance(obs_space, gym.spaces.Box):
        raise ConfigError(
            f"env.id={env_id!r} has a {type(obs_space).__name__} observation space; a Box is needed"
        )
    return EnvSpaces(tuple(obs_space.shape), obs_space.dtype, int(action_space.n))


def make_env(env_id: str, env_kwargs: Mapping[str, Any], render: bool = False) -> gym.Env:
    """One env as evaluation sees it (Atari: preprocessed, whole games, raw rewards).

    `render` adds RGB frames (`env.render()`).
    """
    atari = atari_options(env_kwargs)
    if atari is not None:
        return make_atari_env(env_id, atari, render, played_alone=True)
    return gym.make(env_id, **dict(env_kwargs), **({"render_mode": "rgb_array"} if render else {}))


def make_vector_env(
    env_id: str,
    num_envs: int,
    vectorization_mode: str = "sync",
    env_kwargs: Mapping[str, Any] | None = None,
    training: bool = False,
) -> gym.vector.VectorEnv:
    """Build `num_envs` copies of `env_id` with NextStep autoreset and episode statistics.

    NextStep autoreset: the step after an episode ends ignores its action and returns the
    reset observation; the training loop masks that transition out of the replay buffer.
    `training` applies the env's training-only rules (Atari: life-loss episode ends and
    clipped rewards); without it the env is the game as it is scored.
    """
    atari = atari_options(env_kwargs or {})
    if atari is not None:
        return make_atari_vector_env(env_id, num_envs, atari, vectorization_mode, training)
    # Native vector envs (vector_entry_point) take no vector_kwargs or wrappers: their mode
    # is checked and the vector wrapper records their episodes. Other sub-envs record their
    # own, at a fraction of the vector wrapper's cost (bench/episode_statistics.py).
    native = vectorization_mode == "vector_entry_point"
    envs = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode=vectorization_mode,
        vector_kwargs=None if native else {"autoreset_mode": AutoresetMode.NEXT_STEP},
        wrappers=None if native else [gym.wrappers.RecordEpisodeStatistics],
        **dict(env_kwargs or {}),
    )
    mode = envs.metadata.get("autoreset_mode")
    if mode != AutoresetMode.NEXT_STEP:
        envs.close()
        raise ConfigError(
            f"trainer.vectorization_mode={vectorization_mode!r} gives {env_id} autoreset mode "
            f"{mode}; the training loop needs NextStep: use sync or async"
        )
    return gym.wrappers.vector.RecordEpisodeStatistics(envs) if native else envs
