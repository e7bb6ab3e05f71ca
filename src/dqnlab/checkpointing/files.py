"""Atomic checkpoint files: a crash, a full disk or a diverged run never replaces a good one."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

# What training learned: a NaN or inf here means the run diverged. (Other entries, such as
# the replay buffer's observations, may hold any value the env returned.)
LEARNED = ("q_net", "target_net", "optimizer")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` to a temporary file next to `path`, sync it, then rename it into place.

    NaN or inf in the LEARNED entries (a diverged network or optimiser) raises FloatingPointError
    and writes nothing. A failed write (full disk, unwritable folder) removes the temporary
    file and raises OSError naming `path`. Either way the previous checkpoint stays.
    """
    bad = non_finite_entry({key: state[key] for key in LEARNED if key in state})
    if bad is not None:
        raise FloatingPointError(
            f"checkpoint {path} not written: {bad} holds NaN or inf; the previous one is kept"
        )
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as file:  # a Python file: a failed write is an OSError with errno
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it the checkpoint
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(
            exc.errno, f"checkpoint {path} not written ({exc.strerror}); the previous one is kept"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; a partial file after a failure


def non_finite_entry(value: Any, name: str = "") -> str | None:
    """The dotted name of the first floating tensor holding NaN or inf; None if there is none.

    Walks nested dicts, lists and tuples (network and optimiser state dicts). Plain numbers
    are metadata (an eval return may rightly be -inf) and are not checked.
    """
    if isinstance(value, torch.Tensor):
        finite = not value.is_floating_point() or bool(torch.isfinite(value).all())
        return None if finite else name
    if isinstance(value, Mapping):
        children = ((f"{name}.{key}" if name else str(key), v) for key, v in value.items())
    elif isinstance(value, list | tuple):
        children = ((f"{name}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    return next((bad for child, v in children if (bad := non_finite_entry(v, child))), None)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint without unpickling arbitrary objects."""
    return torch.load(path, map_location="cpu", weights_only=True)
