"""One place that seeds every random number generator a run uses, saves and restores them."""

import random
from typing import Any

import numpy as np
import torch

from dqnlab.checkpointing.state_codec import decode, encode, generator_from_state


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return the NumPy generator the loop draws from."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def rng_states(rng: np.random.Generator) -> dict[str, Any]:
    """The position of every generator, `rng` (the loop's) included, as checkpoint data."""
    return {
        "python": random.getstate(),
        "numpy": encode(np.random.get_state()),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loop": rng.bit_generator.state,
    }


def restore_rng_states(states: dict[str, Any]) -> np.random.Generator:
    """Put every generator back where `rng_states` found it; return the loop's generator."""
    random.setstate(states["python"])
    np.random.set_state(decode(states["numpy"]))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    return generator_from_state(states["loop"])
