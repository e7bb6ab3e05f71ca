"""Replay buffer: storage, wrap-around and uniform sampling."""

import numpy as np
import torch

from dqnlab.replay import ReplayBuffer, ReplaySample, UniformReplayBuffer


def add_numbered(buffer: ReplayBuffer, start: int, count: int) -> None:
    """Transitions whose every field encodes their number, so rows can be traced."""
    n = np.arange(start, start + count, dtype=np.float32)
    buffer.add(
        n[:, None],
        n.astype(np.int64),
        n,
        n[:, None] + 0.5,
        (n % 2 == 0).astype(np.float32),
        n / 1000,
    )


def assert_consistent(batch: ReplaySample) -> torch.Tensor:
    """Every field of each sampled row comes from the same transition; returns their numbers."""
    ids = batch.obs[:, 0]
    assert torch.equal(batch.actions.float(), ids)
    assert torch.equal(batch.rewards, ids)
    assert torch.equal(batch.next_obs[:, 0], ids + 0.5)
    assert torch.equal(batch.terminated, (ids % 2 == 0).float())
    assert torch.equal(batch.discounts, ids / 1000)
    assert batch.indices is not None
    return ids


def test_add_then_sample_returns_consistent_rows() -> None:
    buffer = UniformReplayBuffer(100, (1,), seed=0)
    add_numbered(buffer, 0, 50)
    batch = buffer.sample(256)
    assert batch.obs.shape == (256, 1) and batch.obs.dtype == torch.float32
    assert batch.actions.dtype == torch.int64
    assert batch.discounts.dtype == torch.float32
    ids = assert_consistent(batch)
    assert ids.max() < 50  # never samples unwritten rows
    assert batch.weights is None  # uniform: no importance weights
    assert np.array_equal(buffer.obs[batch.indices, 0], ids.numpy())


def test_wraps_around_and_overwrites_oldest() -> None:
    buffer = UniformReplayBuffer(10, (1,), seed=0)
    add_numbered(buffer, 0, 7)
    add_numbered(buffer, 7, 6)  # 13 transitions into 10 slots: 0, 1, 2 are gone
    assert len(buffer) == 10 and buffer.pos == 3
    assert sorted(buffer.obs[:, 0].tolist()) == list(range(3, 13))
    assert buffer.obs[:3, 0].tolist() == [10, 11, 12]


def test_sampling_is_uniform_over_stored_transitions() -> None:
    buffer = UniformReplayBuffer(8, (1,), seed=1)
    add_numbered(buffer, 0, 8)
    counts = np.bincount(buffer.sample(80_000).actions.numpy(), minlength=8)
    assert np.allclose(counts / 80_000, 1 / 8, atol=0.01)


def test_same_seed_gives_same_batches() -> None:
    a, b = UniformReplayBuffer(50, (1,), seed=3), UniformReplayBuffer(50, (1,), seed=3)
    add_numbered(a, 0, 50)
    add_numbered(b, 0, 50)
    assert torch.equal(a.sample(32).obs, b.sample(32).obs)


def test_discounts_are_stored_per_transition() -> None:
    buffer = UniformReplayBuffer(4, (1,), seed=0)
    add_numbered(buffer, 0, 3)
    assert np.array_equal(buffer.discounts, np.float32([0, 0.001, 0.002, 0]))


def test_update_priorities_is_a_no_op_that_never_reads_the_errors() -> None:
    buffer = UniformReplayBuffer(8, (1,), seed=0)
    add_numbered(buffer, 0, 8)
    batch = buffer.sample(4)
    # A meta tensor has no data: any read of it (.cpu(), .numpy(), abs) would raise.
    buffer.update_priorities(batch.indices, torch.empty(4, device="meta"))
