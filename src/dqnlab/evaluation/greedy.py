"""Greedy (or epsilon-greedy) evaluation on environments kept apart from training."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from dqnlab.agent.exploration import epsilon_greedy


@dataclass(frozen=True)
class EvalResult:
    """Returns and lengths of one evaluation, one entry per episode.

    `initial_q` is the mean over episodes of max_a Q(s_0, a): the network's own estimate of
    the discounted return it is about to get (a steady climb past what the policy can earn
    is the over-estimation Double DQN fixes).
    """

    returns: np.ndarray
    lengths: np.ndarray
    initial_q: float

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        return float(self.returns.std())


@torch.no_grad()
def evaluate_greedy(
    q_net: nn.Module,
    envs: gym.vector.VectorEnv,
    seed: int,
    device: torch.device,
    epsilon: float = 0.0,
) -> EvalResult:
    """Play one episode in each of `envs`, greedy or epsilon-greedy, always from the same seeds.

    Fixed seeds make evaluations at different training steps comparable; each env's first
    episode counts and the autoreset episodes after it are ignored. With `epsilon` > 0 a
    uniformly random action replaces the greedy one with that probability (Nature's Atari
    evaluation used 0.05: a deterministic policy cannot loop forever); those draws come from
    a generator seeded with `seed` too. The net plays in eval mode (noisy layers use their
    mean weights) and goes back to the mode it was in.
    """
    with acting_mode(q_net):
        return _play_episodes(q_net, envs, seed, device, epsilon)


@contextmanager
def acting_mode(q_net: nn.Module) -> Iterator[None]:
    """Eval mode (noisy layers act with their mean weights), then back to the caller's mode.

    A torch.export graph (an MLflow model) cannot switch modes: it was exported in eval mode.
    """
    if isinstance(q_net, torch.fx.GraphModule):
        yield
        return
    was_training = q_net.training
    q_net.eval()
    try:
        yield
    finally:
        q_net.train(was_training)


def _play_episodes(
    q_net: nn.Module,
    envs: gym.vector.VectorEnv,
    seed: int,
    device: torch.device,
    epsilon: float,
) -> EvalResult:
    rng = np.random.default_rng(seed)
    n_actions = int(envs.single_action_space.n)
    obs, _ = envs.reset(seed=seed)
    initial_q = q_net(torch.as_tensor(obs, device=device)).max(dim=1).values.mean().item()
    returns = np.zeros(envs.num_envs)
    lengths = np.zeros(envs.num_envs, dtype=np.int64)
    running = np.ones(envs.num_envs, dtype=bool)
    while running.any():
        q_values = partial(q_net, torch.as_tensor(obs, device=device))
        actions = epsilon_greedy(q_values, epsilon, n_actions, envs.num_envs, rng)
        obs, rewards, terminated, truncated, _ = envs.step(actions)
        returns += rewards * running
        lengths += running
        running &= ~(terminated | truncated)
    return EvalResult(returns, lengths, initial_q)
