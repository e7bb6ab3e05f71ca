"""Q-network shapes and the learner's update and target sync."""

from functools import partial

import numpy as np
import pytest
import torch

from dqnlab.errors import ConfigError
from dqnlab.learner import DQNLearner
from dqnlab.networks import MLPQNetwork
from dqnlab.replay import ReplaySample


def make_learner(loss: str = "huber", gamma: float = 0.9) -> DQNLearner:
    torch.manual_seed(0)
    net = MLPQNetwork((3,), 2, hidden_sizes=(16,))
    return DQNLearner(net, partial(torch.optim.Adam, lr=1e-2), gamma=gamma, loss=loss)


def test_mlp_outputs_one_value_per_action() -> None:
    net = MLPQNetwork((8,), 4, hidden_sizes=(64, 32))
    assert net(torch.zeros(5, 8)).shape == (5, 4)
    assert net(torch.zeros(1, 8, dtype=torch.float64)).dtype == torch.float32


def test_mlp_rejects_image_observations() -> None:
    with pytest.raises(ConfigError, match="network=mlp"):
        MLPQNetwork((84, 84, 4), 6)


def test_unknown_loss_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"agent\.loss"):
        make_learner(loss="l1")


def test_update_moves_q_toward_td_target_and_only_trains_online_net() -> None:
    learner = make_learner(loss="mse", gamma=0.9)
    batch = ReplaySample(
        obs=torch.ones(4, 3),
        actions=torch.zeros(4, dtype=torch.int64),
        rewards=torch.full((4,), 1.0),
        next_obs=torch.zeros(4, 3),
        terminated=torch.ones(4),  # terminal: target is exactly the reward
    )
    target_before = [p.clone() for p in learner.target_net.parameters()]
    first = learner.update(batch).loss.item()
    for _ in range(200):
        last = learner.update(batch)
    assert last.loss.item() < first * 0.01
    assert learner.q_net(batch.obs)[:, 0].detach() == pytest.approx(np.ones(4), abs=0.05)
    after = learner.target_net.parameters()
    assert all(torch.equal(a, b) for a, b in zip(target_before, after, strict=True))
    assert learner.num_updates == 201


def test_grad_norm_is_clipped() -> None:
    learner = make_learner()
    learner.max_grad_norm = 1e-6
    batch = ReplaySample(
        torch.randn(8, 3),
        torch.zeros(8, dtype=torch.int64),
        torch.full((8,), 100.0),
        torch.randn(8, 3),
        torch.zeros(8),
    )
    learner.update(batch)
    # clip_grad_norm_ reports the pre-clip norm; the gradients left behind are tiny.
    total = torch.norm(torch.stack([p.grad.norm() for p in learner.q_net.parameters()]))
    assert total.item() <= 1e-6 * 1.01


def test_hard_and_soft_target_sync() -> None:
    learner = make_learner()
    with torch.no_grad():
        for p in learner.q_net.parameters():
            p.add_(1.0)
    old = [p.clone() for p in learner.target_net.parameters()]
    learner.sync_target(tau=0.25)
    pairs = zip(learner.target_net.parameters(), old, learner.q_net.parameters(), strict=True)
    for t, o, q in pairs:
        assert torch.allclose(t, o + 0.25 * (q - o))
    learner.sync_target(tau=1.0)
    for t, q in zip(learner.target_net.parameters(), learner.q_net.parameters(), strict=True):
        assert torch.equal(t, q)


def test_hard_sync_after_updates_copies_the_online_net() -> None:
    learner = make_learner()
    batch = ReplaySample(
        torch.randn(8, 3),
        torch.zeros(8, dtype=torch.int64),
        torch.ones(8),
        torch.randn(8, 3),
        torch.zeros(8),
    )
    learner.update(batch)
    assert not all(
        torch.equal(t, q)
        for t, q in zip(learner.target_net.parameters(), learner.q_net.parameters(), strict=True)
    )
    learner.sync_target()
    for t, q in zip(learner.target_net.parameters(), learner.q_net.parameters(), strict=True):
        assert torch.equal(t, q)
