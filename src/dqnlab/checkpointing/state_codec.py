"""Python and NumPy values as the plain types a `weights_only` torch.load accepts, and back.

Arrays and NumPy scalars become tensors, deques and NumPy generators tagged dicts; ints
(even 128-bit generator states), floats, strings, lists, tuples and dicts pass through.
"""

from collections import deque
from typing import Any

import numpy as np
import torch

TAG = "__codec__"


def encode(value: Any) -> Any:
    """`value` with every NumPy array, scalar, generator and deque made loadable."""
    if isinstance(value, np.ndarray):
        return {TAG: "ndarray", "data": torch.from_numpy(np.ascontiguousarray(value).copy())}
    if isinstance(value, np.generic):
        return {TAG: "scalar", "data": torch.from_numpy(np.asarray(value).copy())}
    if isinstance(value, np.random.Generator):
        return {TAG: "generator", "state": value.bit_generator.state}
    if isinstance(value, deque):
        return {TAG: "deque", "items": [encode(v) for v in value], "maxlen": value.maxlen}
    if isinstance(value, dict):
        return {key: encode(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(encode(v) for v in value)
    return value


def decode(value: Any) -> Any:
    """The inverse of `encode`."""
    if isinstance(value, dict):
        kind = value.get(TAG)
        if kind == "ndarray":
            return value["data"].numpy()
        if kind == "scalar":
            return value["data"].numpy()[()]
        if kind == "generator":
            return generator_from_state(value["state"])
        if kind == "deque":
            return deque((decode(v) for v in value["items"]), maxlen=value["maxlen"])
        return {key: decode(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(decode(v) for v in value)
    return value


def generator_from_state(state: dict[str, Any]) -> np.random.Generator:
    """A NumPy generator at exactly the position `bit_generator.state` describes."""
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def is_plain(value: Any) -> bool:
    """Whether `encode` captures `value` completely (no opaque objects inside)."""
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype != object
    if isinstance(value, np.random.Generator):
        return True
    if isinstance(value, list | tuple | deque):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    return False
