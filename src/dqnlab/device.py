"""Which torch device a run or an evaluation uses."""

import contextlib
import os
import platform
from pathlib import Path

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
    """What a run records of where it ran: the device and its model (speeds are compared
    between machines by it), and the GPUs the launcher or the scheduler (SLURM, Ray) made
    visible to the process."""
    tags = {"device": str(device), "host.cpus": str(os.cpu_count())}
    if device.type == "cuda":
        tags["device.name"] = torch.cuda.get_device_name(device)
    else:
        tags["device.name"] = cpu_model()
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        tags["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return tags


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what the platform module says."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"
