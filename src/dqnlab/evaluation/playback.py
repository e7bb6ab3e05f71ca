"""Play a Q-network in gymnasium environments, one env per seeded episode, optionally rendered."""

from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from dqnlab.agent.exploration import epsilon_greedy
from dqnlab.envs.factory import make_env  # also registers the ALE/… ids
from dqnlab.evaluation.greedy import acting_mode

FrameSink = Callable[[np.ndarray], None]  # takes one (H, W, 3) uint8 RGB frame
DEFAULT_FPS = 30.0  # for envs that declare no render_fps


@dataclass(frozen=True)
class Episodes:
    """Seeds, returns and lengths of played episodes, one entry per episode."""

    seeds: np.ndarray
    returns: np.ndarray
    lengths: np.ndarray

    def summary(self) -> dict[str, float]:
        """Mean, std, min and max of the return, and the mean length."""
        return {
            "return_mean": float(self.returns.mean()),
            "return_std": float(self.returns.std()),
            "return_min": float(self.returns.min()),
            "return_max": float(self.returns.max()),
            "length_mean": float(self.lengths.mean()),
        }


def render_fps(env_id: str, env_kwargs: Mapping[str, Any]) -> float:
    """The frame rate the env declares for its videos (real time)."""
    with closing(make_env(env_id, env_kwargs)) as env:
        return float(env.metadata.get("render_fps") or DEFAULT_FPS)


def play_episodes(
    q_net: nn.Module,
    env_id: str,
    env_kwargs: Mapping[str, Any],
    seeds: Sequence[int],
    epsilon: float,
    device: torch.device,
    record: Mapping[int, FrameSink] | None = None,
) -> Episodes:
    """Play one episode per seed, each in a fresh env; `record[seed]` gets that episode's frames.

    An episode depends only on the weights, its seed and epsilon: the env is reset with the
    seed and the exploration draws come from a NumPy generator seeded with it too.
    """
    returns, lengths = [], []
    for seed in seeds:
        sink = (record or {}).get(seed)
        with closing(make_env(env_id, env_kwargs, render=sink is not None)) as env:
            episode_return, length = play_episode(q_net, env, seed, epsilon, device, sink)
        returns.append(episode_return)
        lengths.append(length)
    return Episodes(np.array(seeds), np.array(returns), np.array(lengths, dtype=np.int64))


@torch.no_grad()
def play_episode(
    q_net: nn.Module,
    env: gym.Env,
    seed: int,
    epsilon: float,
    device: torch.device,
    on_frame: FrameSink | None = None,
    max_frames: int | None = None,
) -> tuple[float, int]:
    """Play `env` from `reset(seed)` to its end, epsilon-greedy; return (return, length).

    `on_frame` gets the first frame and the one after each step (length + 1 in all, at most
    `max_frames`); the env must render rgb_array frames.
    """
    rng = np.random.default_rng(seed)
    n_actions = int(env.action_space.n)
    frame_limit = np.inf if max_frames is None else max_frames
    obs, _ = env.reset(seed=seed)
    episode_return, length, done = 0.0, 0, False
    with acting_mode(q_net):
        while True:
            if on_frame is not None and length < frame_limit:
                on_frame(env.render())
            if done:
                return episode_return, length
            q_values = partial(q_net, _batch(obs, device))
            action = int(epsilon_greedy(q_values, epsilon, n_actions, 1, rng)[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            episode_return += float(reward)
            length += 1
            done = terminated or truncated


def _batch(obs: np.ndarray, device: torch.device) -> torch.Tensor:
    """A batch of one observation, float observations as float32 (what the nets were fed)."""
    obs = np.asarray(obs)
    if np.issubdtype(obs.dtype, np.floating):
        obs = obs.astype(np.float32, copy=False)
    return torch.as_tensor(obs[None], device=device)
