"""Which torch device a run or an evaluation uses."""

import torch

from dqnlab.errors import ConfigError


def resolve_device(requested: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without one is a config error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={requested!r} but no CUDA device is visible: use auto or cpu")
    return torch.device(requested)
