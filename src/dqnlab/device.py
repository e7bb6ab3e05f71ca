"""Which torch device a run or an evaluation uses."""

import os

import torch

from dqnlab.errors import ConfigError


def resolve_device(requested: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without one is a config error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={requested!r} but no CUDA device is visible: use auto or cpu")
    return torch.device(requested)


def device_tags(device: torch.device) -> dict[str, str]:
    """What a run records of where it ran: the device, and the GPUs the launcher or the
    scheduler (SLURM, Ray) made visible to the process."""
    tags = {"device": str(device)}
    if device.type == "cuda":
        tags["device.name"] = torch.cuda.get_device_name(device)
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        tags["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return tags
