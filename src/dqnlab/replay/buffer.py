"""Experience replay: transitions in preallocated arrays, sampled uniformly or by priority.

A buffer is a storage (where rows live and how they become tensors) plus a sampler (which
rows a batch takes), so a different storage can serve both samplers.
"""

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from dqnlab.replay.device_storage import DeviceTransitionStorage
from dqnlab.replay.frames import FrameStorage, is_frame_stack
from dqnlab.replay.nstep import NStepBuilder
from dqnlab.replay.storage import (
    EMPTY_ROWS,
    ReplaySample,
    TransitionStorage,
    array_state,
    load_array,
)
from dqnlab.replay.sum_tree import SumTree
from dqnlab.schedules import DecaySchedule

Storage = TransitionStorage | FrameStorage


def make_storage(
    kind: str,
    capacity: int,
    obs_shape: tuple[int, ...],
    obs_dtype: np.typing.DTypeLike,
    device: torch.device | str,
    num_envs: int,
    n_step: int,
    pin_memory: bool = False,
) -> Storage:
    """`frames` keeps each frame of uint8 frame stacks once; `transitions` keeps (s, s') in
    full; `auto` picks frames for (stack, height, width) uint8 observations; `device` keeps
    (s, s') rows in the learner's device memory. `pin_memory`: host storages gather batches
    into page-locked memory (on CUDA)."""
    if kind == "device":
        return DeviceTransitionStorage(capacity, obs_shape, obs_dtype, device)
    if kind == "frames" or (kind == "auto" and is_frame_stack(obs_shape, obs_dtype)):
        return FrameStorage(capacity, obs_shape, obs_dtype, device, num_envs, n_step, pin_memory)
    return TransitionStorage(capacity, obs_shape, obs_dtype, device, pin_memory)


class ReplayBuffer(ABC):
    """A storage plus a rule for which rows a batch takes; subclasses give the rule.

    The buffer turns env steps into n-step transitions itself (`add_steps`), as the storage
    decides what a transition keeps of its states: `n_step`, `gamma` and `num_envs` are
    agent.n_step, agent.gamma and trainer.num_envs. `storage` is buffer.storage (make_storage;
    the configs say auto, code that builds a buffer itself gets the flat storage unless it asks)
    and `pin_memory` buffer.pin_memory.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.typing.DTypeLike = np.float32,
        device: torch.device | str = "cpu",
        seed: int = 0,
        *,
        storage: str = "transitions",
        n_step: int = 1,
        gamma: float = 0.99,
        num_envs: int = 1,
        pin_memory: bool = False,
    ) -> None:
        self.storage = make_storage(
            storage, capacity, obs_shape, obs_dtype, device, num_envs, n_step, pin_memory
        )
        self.returns = NStepBuilder(
            n_step, gamma, num_envs, self.storage.ref_shape, self.storage.ref_dtype
        )
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.storage)

    def drop_pending(self) -> None:
        """Forget the unfinished n-step windows (their episodes will not go on)."""
        self.returns.clear()

    def add_steps(
        self,
        env_ids: np.ndarray,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> None:
        """Store one real step of each env in `env_ids` (never an autoreset step); the n-step
        transitions it completes become sampleable."""
        obs_refs, next_refs, dropped = self.storage.write_states(env_ids, obs, next_obs)
        done = self.returns.push(
            env_ids, obs_refs, actions, rewards, next_refs, terminated, truncated
        )
        self._stored(self.storage.add(*done), dropped)

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        discounts: np.ndarray,
    ) -> None:
        """Append finished transitions (one row each) whose states are storage refs: for the
        transition storage, the observations themselves."""
        self._stored(
            self.storage.add(obs, actions, rewards, next_obs, terminated, discounts), EMPTY_ROWS
        )

    @abstractmethod
    def _stored(self, rows: np.ndarray, dropped: np.ndarray) -> None:
        """`rows` now hold new transitions; `dropped` rows lost theirs."""

    def state_dict(self) -> dict[str, Any]:
        """The stored rows, the pending n-step windows and the sampling RNG's position."""
        return {
            "storage": self.storage.state_dict(),
            "returns": self.returns.state_dict(),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`'s rows, windows and RNG: later batches are the ones the saved
        buffer would have drawn."""
        self.storage.load_state_dict(state["storage"])
        self.returns.load_state_dict(state["returns"])
        self.rng.bit_generator.state = state["rng"]

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
        return self.storage.gather(self.storage.draw(self.rng, batch_size))

    def _stored(self, rows: np.ndarray, dropped: np.ndarray) -> None:
        """Nothing to track: every row holding a transition is equally likely."""

    def update_priorities(self, indices: np.ndarray, td_errors: torch.Tensor) -> None:
        """A no-op: no priorities. It never reads `td_errors`, as reading a GPU tensor would
        wait for the device."""


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016): P(i) = p_i / sum_k p_k.

    p_i = (|TD error| + priority_eps)^alpha. A new transition, whose error is not known yet,
    gets the largest priority seen so far, so it is soon replayed; a row without a
    transition has priority 0, so it is never drawn.
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
        *,
        storage: str = "transitions",
        n_step: int = 1,
        gamma: float = 0.99,
        num_envs: int = 1,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(
            capacity,
            obs_shape,
            obs_dtype,
            device,
            seed,
            storage=storage,
            n_step=n_step,
            gamma=gamma,
            num_envs=num_envs,
            pin_memory=pin_memory,
        )
        self.alpha = alpha
        self.priority_eps = priority_eps
        self.tree = SumTree(capacity)
        self.max_priority = 1.0
        self.added = 0  # transitions added over the buffer's life: beta's clock
        self._beta = DecaySchedule(beta_start, 1.0, beta_steps)

    @property
    def beta(self) -> float:
        """The importance-sampling exponent now."""
        return self._beta(self.added)

    def _stored(self, rows: np.ndarray, dropped: np.ndarray) -> None:
        """New transitions get the largest priority so far; dropped rows get 0."""
        self.tree.update(dropped, np.zeros(len(dropped)))
        self.tree.update(rows, np.full(len(rows), self.max_priority))
        self.added += len(rows)

    def sample(self, batch_size: int) -> ReplaySample:
        """Draw `batch_size` transitions by priority, one in each of `batch_size` equal slices
        of the total priority (stratified: lower variance than independent draws)."""
        # w_i = (N P(i))^-beta / max_j w_j = (min_j p_j / p_i)^beta: N and the total cancel.
        idx, weights = self.tree.sample_stratified(self.rng.random(batch_size), self.beta)
        return self.storage.gather(idx)._replace(
            weights=torch.from_numpy(weights).to(self.storage.device, non_blocking=True)
        )

    def update_priorities(self, indices: np.ndarray, td_errors: torch.Tensor) -> None:
        """Set p_i = (|td_error_i| + priority_eps)^alpha for the sampled rows `indices`.

        Call it before the next add: a row that add drops keeps the priority set here."""
        self.max_priority = self.tree.set_from_errors(
            indices, td_errors.numpy(force=True), self.priority_eps, self.alpha, self.max_priority
        )

    def state_dict(self) -> dict[str, Any]:
        """The base state plus the rows' priorities, the largest priority and beta's clock."""
        return super().state_dict() | {
            "priorities": array_state(self.tree.get(self.storage.filled_rows())),
            "max_priority": self.max_priority,
            "added": self.added,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`'s state; the sum tree is rebuilt from the leaf priorities."""
        super().load_state_dict(state)
        rows = self.storage.filled_rows()
        priorities = np.zeros(len(rows), dtype=np.float64)
        load_array(priorities, state["priorities"], "buffer priorities")
        # Every node is the sum of its children, so the same leaves give the same tree.
        self.tree = SumTree(self.storage.capacity)
        self.tree.update(rows, priorities)
        self.max_priority = float(state["max_priority"])
        self.added = int(state["added"])
