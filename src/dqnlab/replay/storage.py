"""Where replay transitions live: the sampled batch type, the flat transition storage and
the state-dict helpers every storage shares.

A storage keeps each transition's states as *refs*: the flat storage's refs are the
observations themselves; a storage that keeps states elsewhere (frame_replay) uses row numbers.
The n-step builder carries refs, so it never needs to know which.
"""

from typing import Any, NamedTuple

import numpy as np
import torch

EMPTY_ROWS = np.zeros(0, dtype=np.int64)


class ReplaySample(NamedTuple):
    """A batch of transitions as tensors on the learner's device.

    `discounts` is gamma^k for a k-step return. `weights` are importance-sampling weights
    (None: uniform sampling needs none); `indices` are the buffer rows, for priority updates.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    discounts: torch.Tensor
    weights: torch.Tensor | None = None
    indices: np.ndarray | None = None


def array_state(array: np.ndarray) -> torch.Tensor:
    """`array` as a tensor sharing its memory, for a state dict: `torch.load(weights_only=True)`
    refuses NumPy arrays and scalars but loads tensors."""
    return torch.from_numpy(np.ascontiguousarray(array))


def rows_to_device(
    array: np.ndarray, idx: np.ndarray, device: torch.device, pinned: bool = False
) -> torch.Tensor:
    """Rows `idx` (an index array of any shape) of `array` as a tensor on `device`.

    `pinned`: gathered straight into page-locked host memory (on CUDA devices), from which
    the copy to the GPU runs asynchronously; pageable memory makes every copy wait."""
    if not pinned:
        return torch.from_numpy(array[idx]).to(device, non_blocking=True)
    source = torch.from_numpy(array)
    row_shape = array.shape[1:]
    out = torch.empty(
        (*idx.shape, *row_shape), dtype=source.dtype, pin_memory=device.type == "cuda"
    )
    torch.index_select(source, 0, torch.from_numpy(idx.reshape(-1)), out=out.view(-1, *row_shape))
    return out.to(device, non_blocking=True)


def load_array(target: np.ndarray, saved: torch.Tensor, name: str, prefix: bool = False) -> None:
    """Copy `saved` into `target` (into its first rows if `prefix`), refusing another layout."""
    values = saved.numpy(force=True)
    fits = values.shape[1:] == target.shape[1:] and len(values) <= len(target)
    if values.dtype != target.dtype or not (fits if prefix else values.shape == target.shape):
        raise ValueError(
            f"saved {name} is {values.dtype} {values.shape}, which does not fit "
            f"{target.dtype} {target.shape}: was it saved with another configuration?"
        )
    target[: len(values)] = values


class TransitionStorage:
    """Ring of (s, a, r, s', terminated, discount) rows; the oldest are overwritten first.

    `terminated` is the only end flag stored: a time-limit truncation keeps a real next state
    and must be bootstrapped, so it is stored as a normal transition.
    """

    FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "discounts")  # as ReplaySample

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.typing.DTypeLike,
        device: torch.device | str,
        pin_memory: bool = False,
    ) -> None:
        self.capacity = capacity
        self.device = torch.device(device)
        self.pin_memory = pin_memory
        self.ref_shape, self.ref_dtype = tuple(obs_shape), np.dtype(obs_dtype)
        self.obs = self._zeros((capacity, *obs_shape), obs_dtype)
        self.next_obs = self._zeros((capacity, *obs_shape), obs_dtype)
        self.actions = self._zeros((capacity,), np.int64)
        self.rewards = self._zeros((capacity,), np.float32)
        self.terminated = self._zeros((capacity,), np.float32)
        self.discounts = self._zeros((capacity,), np.float32)
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _zeros(self, shape: tuple[int, ...], dtype: np.typing.DTypeLike) -> np.ndarray:
        """A field's rows, in host memory."""
        return np.zeros(shape, dtype=dtype)

    def write_states(
        self, env_ids: np.ndarray, obs: np.ndarray, next_obs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Refs of one step's states and the rows this invalidated: here the observations
        themselves, and none (a row is only ever replaced by `add`)."""
        return obs, next_obs, EMPTY_ROWS

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        discounts: np.ndarray,
    ) -> np.ndarray:
        """Write a batch of transitions (one row per env); return the rows written."""
        idx = (self.pos + np.arange(len(actions))) % self.capacity
        self._write(idx, (obs, actions, rewards, next_obs, terminated, discounts))
        self.pos = int(idx[-1] + 1) % self.capacity if len(idx) else self.pos
        self.size = min(self.size + len(idx), self.capacity)
        return idx

    def _write(self, idx: np.ndarray, values: tuple[np.ndarray, ...]) -> None:
        """Put each field's values (in FIELDS order) into rows `idx`."""
        for name, value in zip(self.FIELDS, values, strict=True):
            getattr(self, name)[idx] = value

    def draw(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """`batch_size` rows holding transitions, uniformly with replacement."""
        return rng.integers(0, self.size, size=batch_size)

    def gather(self, idx: np.ndarray) -> ReplaySample:
        """Rows `idx` as one tensor per field on the device, with the rows as `indices`."""
        return ReplaySample(
            *(
                rows_to_device(getattr(self, name), idx, self.device, self.pin_memory)
                for name in self.FIELDS
            ),
            indices=idx,
        )

    def filled_rows(self) -> np.ndarray:
        """The rows `state_dict` saves, in its order."""
        return np.arange(self.size)

    def state_dict(self) -> dict[str, Any]:
        """Ring position, size and the filled rows of every field (CPU tensors sharing memory)."""
        rows = {name: array_state(getattr(self, name)[: self.size]) for name in self.FIELDS}
        return {"pos": self.pos, "size": self.size} | rows

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` saved, into a storage of the same capacity and shapes."""
        for name in self.FIELDS:
            load_array(getattr(self, name), state[name], f"buffer {name}", prefix=True)
        self.pos, self.size = int(state["pos"]), int(state["size"])
