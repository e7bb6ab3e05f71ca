"""n-step returns, built per env from vectorised env steps before they enter the replay buffer."""

from typing import Any, NamedTuple

import numpy as np

from dqnlab.replay.storage import array_state, load_array


class Transitions(NamedTuple):
    """A batch of transitions ready for the replay buffer, one row each.

    `discounts` is what the TD target multiplies the bootstrap value by: gamma^k for a
    transition that sums k rewards.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    discounts: np.ndarray


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_j = sum_k gamma^(k-j) r_k over the rest of `rewards`, for every start j."""
    returns = np.zeros(len(rewards), dtype=np.float64)
    running = 0.0
    for k in range(len(rewards) - 1, -1, -1):
        running = rewards[k] + gamma * running
        returns[k] = running
    return returns


class NStepBuilder:
    """Turns one-step transitions of parallel envs into n-step transitions.

    Each env keeps a window of its last n steps. A full window emits its oldest step with
    R = sum_k gamma^k r_(t+k) (k < n), next state s_(t+n) and discount gamma^n. An episode
    end empties the window: every pending step gets the rewards up to the end; after a
    termination it does not bootstrap, after a truncation (time limit) it bootstraps from
    the last real next state with gamma^k, k the number of rewards it sums.
    """

    def __init__(
        self,
        n: int,
        gamma: float,
        num_envs: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.typing.DTypeLike = np.float32,
    ) -> None:
        self.n = n
        self.gamma = gamma
        self.powers = gamma ** np.arange(n + 1)
        self.obs = np.zeros((num_envs, n, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((num_envs, n), dtype=np.int64)
        self.rewards = np.zeros((num_envs, n), dtype=np.float32)
        self.start = np.zeros(num_envs, dtype=np.int64)  # ring position of the oldest step
        self.count = np.zeros(num_envs, dtype=np.int64)  # steps waiting in each window
        # ring_order[i]: the window's slots from position i on, oldest step first
        self.ring_order = (np.arange(n)[:, None] + np.arange(n)) % n

    WINDOW = ("obs", "actions", "rewards", "start", "count")  # what a checkpoint keeps

    def state_dict(self) -> dict[str, Any]:
        """Every env's pending window (CPU tensors sharing memory), for a checkpoint."""
        return {name: array_state(getattr(self, name)) for name in self.WINDOW}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the windows `state_dict` saved, into a builder of the same n, envs, shapes."""
        for name in self.WINDOW:
            load_array(getattr(self, name), state[name], f"n-step {name}")

    def clear(self) -> None:
        """Drop every pending step: their episodes will not go on (envs reset on a resume)."""
        self.start[:] = 0
        self.count[:] = 0

    def push(
        self,
        env_ids: np.ndarray,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Transitions:
        """Add one real step of each env in `env_ids`; return the transitions now complete."""
        terminated = terminated.astype(np.float32)
        if self.n == 1:  # every step is complete at once: no window to keep
            discounts = np.full(len(env_ids), self.gamma, dtype=np.float32)
            return Transitions(obs, actions, rewards, next_obs, terminated, discounts)
        slot = (self.start[env_ids] + self.count[env_ids]) % self.n
        self.obs[env_ids, slot] = obs
        self.actions[env_ids, slot] = actions
        self.rewards[env_ids, slot] = rewards
        self.count[env_ids] += 1
        ended = (terminated > 0) | truncated
        if not ended.any():  # most steps: no window to flush, nothing to concatenate
            return self._emit_full(env_ids, next_obs)
        parts = [self._emit_full(env_ids[~ended], next_obs[~ended])]
        # Episode ends are rare: a Python loop over just those envs.
        parts += [
            self._flush(env_ids[i], next_obs[i], terminated[i]) for i in np.flatnonzero(ended)
        ]
        return Transitions(*(np.concatenate(field) for field in zip(*parts, strict=True)))

    def _emit_full(self, env_ids: np.ndarray, next_obs: np.ndarray) -> Transitions:
        """Emit the oldest step of every full window among `env_ids` (no episode end)."""
        full = self.count[env_ids] == self.n
        envs, next_obs = (env_ids, next_obs) if full.all() else (env_ids[full], next_obs[full])
        oldest = self.start[envs]
        returns = self.rewards[envs[:, None], self.ring_order[oldest]] @ self.powers[: self.n]
        transitions = Transitions(
            self.obs[envs, oldest],
            self.actions[envs, oldest],
            returns.astype(np.float32),
            next_obs,
            np.zeros(len(envs), dtype=np.float32),
            np.full(len(envs), self.powers[self.n], dtype=np.float32),
        )
        self.start[envs] = (oldest + 1) % self.n
        self.count[envs] -= 1
        return transitions

    def _flush(self, env: int, next_obs: np.ndarray, terminated: float) -> Transitions:
        """Emit every pending step of `env`, whose episode just ended, and empty its window."""
        pending = int(self.count[env])
        order = (self.start[env] + np.arange(pending)) % self.n
        transitions = Transitions(
            self.obs[env, order],
            self.actions[env, order],
            discounted_returns(self.rewards[env, order], self.gamma).astype(np.float32),
            np.repeat(next_obs[None], pending, axis=0),
            np.full(pending, terminated, dtype=np.float32),
            self.powers[pending - np.arange(pending)].astype(np.float32),
        )
        self.start[env] = self.count[env] = 0
        return transitions
