"""Replay storage for frame-stack observations (Atari): each frame stored once.

A (stack, H, W) observation shares stack - 1 frames with the one before it, so storing
s and s' in full keeps every frame 2 * stack times. Here each env has a ring segment of
frame rows (its stream); a real step appends only its next state's newest frame, and a
state's stack is rebuilt at sample time from the stack rows ending at its row.

Correctness is checked at write time, not assumed: a step's observation is reused as the
row its env wrote last only if the rebuilt stack there equals it byte for byte; otherwise
(an episode's first step, a reset outside the buffer's view, a resume) its whole stack is
appended, so whatever padding the env uses is kept. Every next state must be its
observation shifted by one frame, or the env does not stack frames and this storage refuses
it. So an episode start is never crossed: a stack is always rows the env really showed.

Row r holds a frame and, when r is the newest frame of a transition's first state, that
transition (action, n-step reward, terminated, discount, next state's row). Overwriting a
frame invalidates the transitions whose stacks read it: those of the stack - 1 rows after it.
"""

from typing import Any

import numpy as np
import torch

from dqnlab.errors import ConfigError
from dqnlab.replay.storage import ReplaySample, array_state, load_array, rows_to_device


def is_frame_stack(obs_shape: tuple[int, ...], obs_dtype: np.typing.DTypeLike) -> bool:
    """Whether observations look like uint8 frame stacks (stack, height, width): a few
    frames, not a channels-last image such as (96, 96, 3)."""
    return len(obs_shape) == 3 and np.dtype(obs_dtype) == np.uint8 and obs_shape[0] < obs_shape[1]


class FrameStorage:
    """Frames in one ring segment per env; transitions refer to states by frame row.

    Refs (what the n-step builder carries) are global row numbers.
    """

    ROW_FIELDS = ("frames", "actions", "rewards", "terminated", "discounts", "next_rows", "valid")

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.typing.DTypeLike,
        device: torch.device | str,
        num_envs: int,
        n_step: int,
        pin_memory: bool = False,
    ) -> None:
        self.capacity = capacity
        self.device = torch.device(device)
        self.pin_memory = pin_memory
        self.ref_shape, self.ref_dtype = (), np.dtype(np.int64)
        self.stack = obs_shape[0]
        # Segments differ by at most one row, so the rows add up to `capacity` exactly.
        self.seg = np.full(num_envs, capacity // num_envs, dtype=np.int64)
        self.seg[: capacity % num_envs] += 1
        self.base = np.cumsum(self.seg) - self.seg
        # A step appends at most stack + 1 frames; the oldest of the n pending steps must
        # outlive them, and its stack with it.
        least = (n_step + 1) * (self.stack + 1)
        if self.seg.min() < least:
            raise ConfigError(
                f"buffer.capacity={capacity} leaves {self.seg.min()} frame rows per env: "
                f"frame storage needs at least {least} per env for {num_envs} envs"
            )
        self.frames = np.zeros((capacity, *obs_shape[1:]), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.next_rows = np.zeros(capacity, dtype=np.int64)
        self.valid = np.zeros(capacity, dtype=bool)  # holds a transition all of whose frames exist
        self.written = np.zeros(num_envs, dtype=np.int64)  # frames each env appended so far
        self.count = 0  # valid rows
        self._lags = np.arange(self.stack - 1, -1, -1)  # oldest frame first

    def __len__(self) -> int:
        return self.count

    def _rows(self, envs: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The rows of stream positions (one row of `positions` per env in `envs`)."""
        return self.base[envs, None] + positions % self.seg[envs, None]

    def _stacks(self, rows: np.ndarray) -> np.ndarray:
        """The `stack` rows ending at each row, oldest first: (len(rows), stack)."""
        envs = np.searchsorted(self.base, rows, side="right") - 1
        return self._rows(envs, rows[:, None] - self.base[envs, None] - self._lags)

    def _newest(self, envs: np.ndarray) -> np.ndarray:
        """The row each env in `envs` wrote last."""
        return self._rows(envs, self.written[envs, None] - 1)[:, 0]

    def _append(self, envs: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Append frames (one row of `frames` per env) to the envs' streams; invalidate and
        return the valid rows whose stacks read an overwritten frame."""
        start = self.written[envs, None]
        self.frames[self._rows(envs, start + np.arange(frames.shape[1]))] = frames
        self.written[envs] += frames.shape[1]
        reach = self._rows(envs, start + np.arange(frames.shape[1] + self.stack - 1)).ravel()
        dropped = reach[self.valid[reach]]
        self.valid[dropped] = False
        self.count -= len(dropped)
        return dropped

    def write_states(
        self, env_ids: np.ndarray, obs: np.ndarray, next_obs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Store one real step's states of `env_ids`; return their rows (obs, next) and the
        rows whose transitions the overwritten frames invalidated."""
        if not np.array_equal(next_obs[:, :-1], obs[:, 1:]):
            raise ValueError(
                "next observations are not the observations shifted by one frame: these are "
                "not frame stacks (newest last); use buffer.storage=transitions"
            )
        # An observation is its env's newest row when the stack rebuilt there is the same;
        # otherwise (a new episode, or no row yet) its whole stack is appended.
        continues = self.written[env_ids] > 0
        same = self.frames[self._stacks(self._newest(env_ids[continues]))] == obs[continues]
        continues[continues] = same.all(axis=tuple(range(1, same.ndim)))
        dropped = self._append(env_ids[~continues], obs[~continues])
        obs_rows = self._newest(env_ids)
        dropped = np.concatenate([dropped, self._append(env_ids, next_obs[:, -1:])])
        return obs_rows, self._newest(env_ids), dropped

    def add(
        self,
        obs_rows: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_rows: np.ndarray,
        terminated: np.ndarray,
        discounts: np.ndarray,
    ) -> np.ndarray:
        """Record finished transitions at their first state's row; return those rows."""
        self.actions[obs_rows] = actions
        self.rewards[obs_rows] = rewards
        self.next_rows[obs_rows] = next_rows
        self.terminated[obs_rows] = terminated
        self.discounts[obs_rows] = discounts
        self.count += int((~self.valid[obs_rows]).sum())
        self.valid[obs_rows] = True
        return obs_rows

    def draw(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """`batch_size` valid rows, uniformly with replacement: uniform over the rows in use,
        redrawing the few that hold no transition (stack padding, pending, overwritten)."""
        if self.count == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        filled = np.minimum(self.written, self.seg)
        ends = np.cumsum(filled)
        rows = np.empty(batch_size, dtype=np.int64)
        todo = np.arange(batch_size)
        while len(todo):
            u = rng.integers(0, ends[-1], size=len(todo))
            envs = np.searchsorted(ends, u, side="right")
            rows[todo] = self.base[envs] + u - (ends[envs] - filled[envs])
            todo = todo[~self.valid[rows[todo]]]
        return rows

    def gather(self, idx: np.ndarray) -> ReplaySample:
        """Transitions at rows `idx`, stacks rebuilt, as tensors on the device.

        First and next states are gathered into one array and copied to the device at once:
        one allocation and one transfer for the two large fields."""
        stacks = self._stacks(np.concatenate([idx, self.next_rows[idx]]))
        obs, next_obs = rows_to_device(self.frames, stacks, self.device, self.pin_memory).chunk(2)
        actions, rewards, terminated, discounts = (
            rows_to_device(array, idx, self.device, self.pin_memory)
            for array in (self.actions, self.rewards, self.terminated, self.discounts)
        )
        return ReplaySample(obs, actions, rewards, next_obs, terminated, discounts, indices=idx)

    def _filled(self) -> list[slice]:
        """Each segment's rows written so far."""
        return [
            slice(base, base + min(written, seg))
            for base, seg, written in zip(self.base, self.seg, self.written, strict=True)
        ]

    def filled_rows(self) -> np.ndarray:
        """The rows `state_dict` saves, in its order."""
        return np.concatenate([np.arange(s.start, s.stop) for s in self._filled()])

    def state_dict(self) -> dict[str, Any]:
        """Per env, its written rows of every row field (CPU tensors sharing memory)."""
        filled = self._filled()
        rows = {
            name: [array_state(getattr(self, name)[s]) for s in filled] for name in self.ROW_FIELDS
        }
        return {"written": array_state(self.written), "count": self.count} | rows

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` saved, into a storage of the same capacity, envs, shapes."""
        load_array(self.written, state["written"], "buffer written")
        self.valid[:] = False  # rows past the saved ones hold nothing
        for name in self.ROW_FIELDS:
            for s, saved in zip(self._filled(), state[name], strict=True):
                load_array(getattr(self, name)[s], saved, f"buffer {name}", prefix=True)
        self.count = int(state["count"])
