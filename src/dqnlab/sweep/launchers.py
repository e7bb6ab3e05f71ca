"""The Hydra launcher a sweep command chose (`hydra/launcher=…`): installed, and its
cluster answering, before any store, study or worker exists. Imports no launcher."""

import importlib.util
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from dqnlab.errors import ConfigError

# Each launcher, the module it needs and the extra that installs it.
LAUNCHERS = {
    "basic": (None, None),
    "joblib": ("hydra_plugins.hydra_joblib_launcher", None),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "ray": ("ray", "ray"),
}
CONNECT_TIMEOUT_S = 5
# Settings of ours for the submitit launchers, unless the command line sets them: each
# worker runs for the whole sweep, so the plugin's 60-minute time limit would kill it.
LAUNCHER_DEFAULTS = {
    "submitit_slurm": {
        # 48 h per job; ahead of it, submitit requeues the job (SIGUSR2, signal_delay_s
        # before the limit: the worker checkpoints and re-queues its trial first), at most
        # max_num_timeout times. Clusters with a shorter MaxTime need a smaller value.
        "timeout_min": "2880",
        "max_num_timeout": "20",
        "signal_delay_s": "300",
        "gpus_per_task": "1",  # Slurm sets each worker's CUDA_VISIBLE_DEVICES
        "cpus_per_task": "2",
        # A preempted job (SIGTERM: the worker checkpoints and re-queues its trial) comes back.
        "additional_parameters.requeue": "true",
    },
    "submitit_local": {"timeout_min": "10080"},  # a week
}


def check_launcher(argv: Sequence[str]) -> None:
    """The launcher exists and is installed; a Ray cluster's head answers."""
    choice = _last_value(argv, "hydra/launcher")
    if choice is None:
        return
    if choice not in LAUNCHERS:
        raise ConfigError(
            f"hydra/launcher={choice} is not an option of 'hydra/launcher': "
            f"use one of [{', '.join(LAUNCHERS)}]"
        )
    module, extra = LAUNCHERS[choice]
    if module is not None and importlib.util.find_spec(module) is None:
        raise ConfigError(f"hydra/launcher={choice} is not installed: pip install -e '.[{extra}]'")
    if choice == "ray":
        check_ray_address(_last_value(argv, "hydra.launcher.address") or "auto")


def check_ray_address(address: str) -> None:
    """The head of the Ray cluster at `address` (auto: RAY_ADDRESS, else the cluster
    started on this machine) accepts a connection within seconds."""
    key = "hydra.launcher.address"
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS") or _local_head() or ""
        if not address:
            raise ConfigError(
                f"{key}=auto found no Ray cluster on this machine: start one with "
                f"`ray start --head`, or set {key}=<head host>:<port>"
            )
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except ValueError:
        raise ConfigError(f"{key}={address!r} is not <host>:<port>") from None
    except OSError as exc:
        raise ConfigError(
            f"{key}={address} does not answer ({exc.strerror or exc}): start the head there "
            f"with `ray start --head --port {port}`, or check the host, the port and any "
            "firewall between"
        ) from None


def _local_head() -> str | None:
    """The address `ray start --head` on this machine wrote down, if any."""
    root = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"
    return root.read_text().strip() or None if root.is_file() else None


def with_launcher_defaults(argv: Sequence[str]) -> list[str]:
    """`argv` with `hydra.launcher.<key>=<value>` after the launcher's choice for each of
    LAUNCHER_DEFAULTS of that launcher that `argv` does not set."""
    choice = _last_value(argv, "hydra/launcher")
    if choice not in LAUNCHER_DEFAULTS:
        return list(argv)
    given = {arg.split("=", 1)[0].lstrip("+~") for arg in argv}
    added = [
        # `+` adds a key to a dict the launcher's schema leaves open (additional_parameters).
        f"{'+' * ('.' in key)}hydra.launcher.{key}={value}"
        for key, value in LAUNCHER_DEFAULTS[choice].items()
        if f"hydra.launcher.{key}" not in given
    ]
    at = max(i for i, arg in enumerate(argv) if arg.startswith("hydra/launcher=")) + 1
    return [*argv[:at], *added, *argv[at:]]


def _last_value(argv: Sequence[str], key: str) -> str | None:
    values = [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"{key}=")]
    return values[-1] if values else None
