"""The state of a synchronous vector env and its wrappers, for exact resume.

Gymnasium has no get/set-state API. Envs whose every layer holds only plain data (the
classic-control envs: physics state, step counters, the NumPy generator, episode
statistics) are saved attribute by attribute. An env holding anything else (a Box2D
world, an emulator, subprocesses) cannot be saved: a resumed run restarts its episodes.
"""

from enum import Enum
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

from dqnlab.checkpointing.state_codec import decode, encode, is_plain

# Set when the env is built, the same in every process: not state.
STRUCTURE = (gym.Env, gym.vector.VectorEnv, gym.spaces.Space, EnvSpec, Enum)
BUILD_ATTRIBUTES = frozenset(
    {"env_fns", "metadata", "_metadata", "_saved_kwargs", "_ezpickle_args", "_ezpickle_kwargs"}
)


def _layers(envs: gym.vector.VectorEnv) -> list[Any] | None:
    """Every wrapper of the vector env, the vector env, and every layer of each sub-env."""
    layers: list[Any] = []
    layer: Any = envs
    while isinstance(layer, gym.vector.VectorWrapper):
        layers.append(layer)
        layer = layer.env
    if not isinstance(layer, gym.vector.SyncVectorEnv):
        return None  # sub-envs live in other processes or in native code
    layers.append(layer)
    for env in layer.envs:
        while isinstance(env, gym.Wrapper):
            layers.append(env)
            env = env.env
        layers.append(env)
    return layers


def _state_of(layer: Any) -> dict[str, Any] | None:
    state = {}
    for name, value in vars(layer).items():
        if name in BUILD_ATTRIBUTES or isinstance(value, STRUCTURE) or callable(value):
            continue
        if isinstance(value, list) and all(isinstance(v, STRUCTURE) for v in value):
            continue  # SyncVectorEnv.envs
        if not is_plain(value):
            return None
        state[name] = encode(value)
    return state


def capture_env_state(envs: gym.vector.VectorEnv) -> list[dict[str, Any]] | None:
    """Each layer's class and plain attributes; None when some layer holds state that
    cannot be saved."""
    layers = _layers(envs)
    if layers is None:
        return None
    states = [_state_of(layer) for layer in layers]
    if any(state is None for state in states):
        return None
    return [
        {"class": _name(layer), "attributes": s} for layer, s in zip(layers, states, strict=True)
    ]


def restore_env_state(envs: gym.vector.VectorEnv, states: list[dict[str, Any]]) -> bool:
    """Put captured state into a freshly built env; False if it does not fit (another env,
    other wrappers, another number of envs)."""
    layers = _layers(envs)
    if layers is None or [_name(layer) for layer in layers] != [s["class"] for s in states]:
        return False
    for layer, state in zip(layers, states, strict=True):
        for name, value in state["attributes"].items():
            setattr(layer, name, decode(value))
    return True


def _name(layer: Any) -> str:
    return f"{type(layer).__module__}.{type(layer).__qualname__}"
