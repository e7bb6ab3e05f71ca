"""Experience replay: transitions in preallocated arrays, sampled uniformly or by priority.

A buffer is a storage (where rows live and how they become tensors) plus a sampler (which
rows a batch takes), so a different storage can serve both samplers.
"""

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import numpy as np
import torch

from dqnlab.errors import ConfigError
from dqnlab.exploration import DecaySchedule
from dqnlab.sum_tree import SumTree


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


class TransitionStorage:
    """Ring of (s, a, r, s', terminated, discount) rows; the oldest are overwritten first.

    `terminated` is the only end flag stored: a time-limit truncation keeps a real next state
    and must be bootstrapped, so it is stored as a normal transition.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.typing.DTypeLike,
        device: torch.device | str,
    ) -> None:
        self.capacity = capacity
        self.device = torch.device(device)
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

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
        self.obs[idx] = obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.next_obs[idx] = next_obs
        self.terminated[idx] = terminated
        self.discounts[idx] = discounts
        self.pos = int(idx[-1] + 1) % self.capacity if len(idx) else self.pos
        self.size = min(self.size + len(idx), self.capacity)
        return idx

    def gather(self, idx: np.ndarray) -> ReplaySample:
        """Rows `idx` as one tensor per field on the device, with the rows as `indices`."""
        fields = (
            self.obs,
            self.actions,
            self.rewards,
            self.next_obs,
            self.terminated,
            self.discounts,
        )
        return ReplaySample(
            *(torch.from_numpy(array[idx]).to(self.device, non_blocking=True) for array in fields),
            indices=idx,
        )


class ReplayBuffer(ABC):
    """A transition storage plus a rule for which rows a batch takes; subclasses give the rule.

    The storage's arrays and ring state read as the buffer's own (`buffer.obs`, `buffer.pos`).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.typing.DTypeLike = np.float32,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        self.storage = TransitionStorage(capacity, obs_shape, obs_dtype, device)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.storage)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the buffer lacks. Without `storage` yet (copy, unpickling),
        # forwarding would recurse.
        if name == "storage":
            raise AttributeError(name)
        return getattr(self.storage, name)

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        discounts: np.ndarray,
    ) -> None:
        """Append a batch of transitions (one row per env)."""
        self.storage.add(obs, actions, rewards, next_obs, terminated, discounts)

    @abstractmethod
    def sample(self, batch_size: int) -> ReplaySample:
        """Draw `batch_size` stored transitions."""

    @abstractmethod
    def update_priorities(self, indices: np.ndarray, td_errors: torch.Tensor) -> None:
        """Report the TD errors of the sampled rows `indices`."""


class UniformReplayBuffer(ReplayBuffer):
    """Every stored transition equally likely."""

    def sample(self, batch_size: int) -> ReplaySample:
        """Draw `batch_size` stored transitions uniformly, with replacement."""
        return self.storage.gather(self.rng.integers(0, len(self.storage), size=batch_size))

    def update_priorities(self, indices: np.ndarray, td_errors: torch.Tensor) -> None:
        """A no-op: no priorities. It never reads `td_errors`, as reading a GPU tensor would
        wait for the device."""


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016): P(i) = p_i / sum_k p_k.

    p_i = (|TD error| + priority_eps)^alpha. A new transition, whose error is not known yet,
    gets the largest priority seen so far, so it is soon replayed.
    The bias of non-uniform sampling is corrected by importance-sampling weights whose exponent
    beta rises linearly from `beta_start` to 1 over `beta_steps` added transitions.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.typing.DTypeLike = np.float32,
        device: torch.device | str = "cpu",
        seed: int = 0,
        alpha: float = 0.6,
        beta_start: float = 0.4,
        beta_steps: int = 100_000,
        priority_eps: float = 1e-6,
    ) -> None:
        for key, value in (("alpha", alpha), ("beta_start", beta_start)):
            if not 0 <= value <= 1:
                raise ConfigError(f"buffer.{key}={value} is not allowed: use a value in [0, 1]")
        if not (beta_steps > 0 and float(beta_steps).is_integer()):
            raise ConfigError(f"buffer.beta_steps={beta_steps} is not allowed: use an integer > 0")
        if not priority_eps > 0:
            raise ConfigError(f"buffer.priority_eps={priority_eps} is not allowed: use a value > 0")
        super().__init__(capacity, obs_shape, obs_dtype, device, seed)
        self.alpha = alpha
        self.priority_eps = priority_eps
        self.tree = SumTree(capacity)
        self.max_priority = 1.0
        self.added = 0  # transitions added over the buffer's life: beta's clock
        self._beta = DecaySchedule(beta_start, 1.0, beta_steps)
        self._strata = np.arange(0, dtype=np.float64)  # 0 .. batch_size - 1, kept between batches

    @property
    def beta(self) -> float:
        """The importance-sampling exponent now."""
        return self._beta(self.added)

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        discounts: np.ndarray,
    ) -> None:
        """Append a batch of transitions (one row per env) at the largest priority so far."""
        rows = self.storage.add(obs, actions, rewards, next_obs, terminated, discounts)
        self.tree.update(rows, np.full(len(rows), self.max_priority))
        self.added += len(rows)

    def sample(self, batch_size: int) -> ReplaySample:
        """Draw `batch_size` transitions by priority, one in each of `batch_size` equal slices
        of the total priority (stratified: lower variance than independent draws)."""
        if len(self._strata) != batch_size:
            self._strata = np.arange(batch_size, dtype=np.float64)
        values = self._strata + self.rng.random(batch_size)
        values *= self.tree.total / batch_size
        idx = self.tree.find(values)
        # w_i = (N P(i))^-beta / max_j w_j = (min_j p_j / p_i)^beta: N and the total cancel.
        priorities = self.tree.get(idx)
        weights = ((priorities.min() / priorities) ** self.beta).astype(np.float32)
        return self.storage.gather(idx)._replace(
            weights=torch.from_numpy(weights).to(self.storage.device, non_blocking=True)
        )

    def update_priorities(self, indices: np.ndarray, td_errors: torch.Tensor) -> None:
        """Set p_i = (|td_error_i| + priority_eps)^alpha for the sampled rows `indices`."""
        priorities = np.abs(td_errors.detach().cpu().numpy())
        priorities += np.float32(self.priority_eps)
        np.power(priorities, np.float32(self.alpha), out=priorities)
        self.tree.update(indices, priorities)
        self.max_priority = max(self.max_priority, priorities.max())
