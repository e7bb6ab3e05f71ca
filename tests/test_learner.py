"""The learner: TD error with per-sample discounts and weights, the update, target sync."""

from functools import partial

import numpy as np
import pytest
import torch

from dqnlab.agent.learner import DQNLearner
from dqnlab.agent.networks import MLPQNetwork
from dqnlab.agent.noisy import NoisyLinear
from dqnlab.replay.buffer import ReplaySample


def make_learner(loss: str = "huber", **net_kwargs: object) -> DQNLearner:
    torch.manual_seed(0)
    net = MLPQNetwork((3,), 2, hidden_sizes=(16,), **net_kwargs)
    return DQNLearner(net, partial(torch.optim.Adam, lr=1e-2), loss=loss)


def make_batch(
    n: int = 8,
    rewards: float = 1.0,
    terminated: float = 0.0,
    discount: float = 0.9,
    weights: torch.Tensor | None = None,
) -> ReplaySample:
    return ReplaySample(
        obs=torch.randn(n, 3),
        actions=torch.zeros(n, dtype=torch.int64),
        rewards=torch.full((n,), rewards),
        next_obs=torch.randn(n, 3),
        terminated=torch.full((n,), terminated),
        discounts=torch.full((n,), discount),
        weights=weights,
    )


def test_update_moves_q_toward_td_target_and_only_trains_online_net() -> None:
    learner = make_learner(loss="mse")
    batch = make_batch(4, terminated=1.0)._replace(obs=torch.ones(4, 3))  # target: the reward
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
    learner.update(make_batch(rewards=100.0))
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
    learner.update(make_batch())
    assert not all(
        torch.equal(t, q)
        for t, q in zip(learner.target_net.parameters(), learner.q_net.parameters(), strict=True)
    )
    learner.sync_target()
    for t, q in zip(learner.target_net.parameters(), learner.q_net.parameters(), strict=True):
        assert torch.equal(t, q)


def test_td_error_uses_each_samples_discount_and_no_bootstrap_past_termination() -> None:
    learner = make_learner(loss="mse")
    batch = make_batch(4)._replace(
        terminated=torch.tensor([0.0, 0.0, 1.0, 0.0]),
        discounts=torch.tensor([0.9, 0.81, 0.9, 0.729]),  # 1-, 2-, 1- and 3-step returns
    )
    with torch.no_grad():
        q_taken = learner.q_net(batch.obs)[:, 0]
        next_max = learner.target_net(batch.next_obs).max(dim=1).values
    expected = batch.rewards + batch.discounts * (1 - batch.terminated) * next_max - q_taken
    assert torch.allclose(learner.update(batch).td_error, expected)


def test_importance_weights_scale_each_samples_loss() -> None:
    batch = make_batch(rewards=5.0)
    plain = make_learner(loss="mse").update(batch).loss
    weights = torch.tensor([2.0, 0.0, 1.0, 1.0, 0.5, 0.5, 3.0, 0.0])
    weighted = make_learner(loss="mse").update(batch._replace(weights=weights))
    per_sample = weighted.td_error**2
    assert torch.allclose(weighted.loss, (weights * per_sample).mean())
    assert not torch.allclose(weighted.loss, plain)


def test_zero_weights_leave_the_network_unchanged() -> None:
    learner = make_learner()
    before = [p.clone() for p in learner.q_net.parameters()]
    learner.update(make_batch(weights=torch.zeros(8)))
    assert all(torch.equal(a, b) for a, b in zip(before, learner.q_net.parameters(), strict=True))


def test_noisy_nets_get_fresh_independent_noise_every_update() -> None:
    learner = make_learner(noisy=True)
    online = next(m for m in learner.q_net.modules() if isinstance(m, NoisyLinear))
    target = next(m for m in learner.target_net.modules() if isinstance(m, NoisyLinear))
    before = online.eps_in.clone()
    learner.update(make_batch())
    assert not torch.equal(online.eps_in, before)
    assert not torch.equal(online.eps_in, target.eps_in)
