"""Uniform experience replay in preallocated arrays (no per-transition Python objects)."""

from typing import NamedTuple

import numpy as np
import torch


class ReplaySample(NamedTuple):
    """A batch of transitions as tensors on the learner's device."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor


class UniformReplayBuffer:
    """Ring buffer of (s, a, r, s', terminated); the oldest transitions are overwritten first.

    `terminated` is the only end flag stored: a time-limit truncation keeps a real next state
    and must be bootstrapped, so it is stored as a normal transition.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.typing.DTypeLike = np.float32,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        self.capacity = capacity
        self.device = torch.device(device)
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.pos = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
    ) -> None:
        """Append a batch of transitions (one row per env)."""
        idx = (self.pos + np.arange(len(actions))) % self.capacity
        self.obs[idx] = obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.next_obs[idx] = next_obs
        self.terminated[idx] = terminated
        self.pos = int(idx[-1] + 1) % self.capacity if len(idx) else self.pos
        self.size = min(self.size + len(idx), self.capacity)

    def sample(self, batch_size: int) -> ReplaySample:
        """Draw `batch_size` stored transitions uniformly, with replacement."""
        idx = self.rng.integers(0, self.size, size=batch_size)
        return ReplaySample(
            *(
                torch.from_numpy(array[idx]).to(self.device, non_blocking=True)
                for array in (self.obs, self.actions, self.rewards, self.next_obs, self.terminated)
            )
        )
