"""Replay buffer: storage, wrap-around and uniform sampling."""

from pathlib import Path

import numpy as np
import pytest
import torch

from dqnlab.replay.buffer import ReplayBuffer, ReplaySample, UniformReplayBuffer
from dqnlab.replay.nstep import NStepBuilder


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
    assert np.array_equal(buffer.storage.obs[batch.indices, 0], ids.numpy())


def test_wraps_around_and_overwrites_oldest() -> None:
    buffer = UniformReplayBuffer(10, (1,), seed=0)
    add_numbered(buffer, 0, 7)
    add_numbered(buffer, 7, 6)  # 13 transitions into 10 slots: 0, 1, 2 are gone
    assert len(buffer) == 10 and buffer.storage.pos == 3
    assert sorted(buffer.storage.obs[:, 0].tolist()) == list(range(3, 13))
    assert buffer.storage.obs[:3, 0].tolist() == [10, 11, 12]


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
    assert np.array_equal(buffer.storage.discounts, np.float32([0, 0.001, 0.002, 0]))


def test_update_priorities_is_a_no_op_that_never_reads_the_errors() -> None:
    buffer = UniformReplayBuffer(8, (1,), seed=0)
    add_numbered(buffer, 0, 8)
    batch = buffer.sample(4)
    # A meta tensor has no data: any read of it (.cpu(), .numpy(), abs) would raise.
    buffer.update_priorities(batch.indices, torch.empty(4, device="meta"))


def save_and_load(state: dict, tmp_path: Path) -> dict:
    """`state` after a real checkpoint file: torch.save, then torch.load(weights_only=True)."""
    path = tmp_path / "state.pt"
    torch.save(state, path)
    return torch.load(path, weights_only=True)


def assert_same_rows(a: ReplayBuffer, b: ReplayBuffer) -> None:
    assert (len(a), a.storage.pos) == (len(b), b.storage.pos)
    for name in a.storage.FIELDS:
        assert np.array_equal(
            getattr(a.storage, name)[: len(a)], getattr(b.storage, name)[: len(b)]
        ), name


@pytest.mark.parametrize("count", [37, 130])  # part filled; wrapped around
def test_state_round_trip_restores_rows_and_sampling(tmp_path: Path, count: int) -> None:
    buffer = UniformReplayBuffer(100, (1,), seed=0)
    add_numbered(buffer, 0, count)
    buffer.sample(8)  # move the RNG off its seed
    state = save_and_load(buffer.state_dict(), tmp_path)
    assert len(state["storage"]["obs"]) == len(buffer)  # only the filled rows are saved
    restored = UniformReplayBuffer(100, (1,), seed=99)
    restored.load_state_dict(state)
    assert_same_rows(buffer, restored)
    for _ in range(3):
        assert np.array_equal(buffer.sample(32).indices, restored.sample(32).indices)
        add_numbered(buffer, count, 5)
        add_numbered(restored, count, 5)
    assert_same_rows(buffer, restored)


def test_state_of_another_layout_is_refused(tmp_path: Path) -> None:
    buffer = UniformReplayBuffer(10, (2,), seed=0)
    buffer.add(
        np.zeros((3, 2)), np.zeros(3), np.zeros(3), np.zeros((3, 2)), np.zeros(3), np.zeros(3)
    )
    with pytest.raises(ValueError, match="buffer obs"):
        UniformReplayBuffer(10, (3,)).load_state_dict(buffer.state_dict())
    with pytest.raises(ValueError, match="buffer obs"):
        UniformReplayBuffer(2, (2,)).load_state_dict(buffer.state_dict())


def test_add_steps_builds_n_step_transitions_like_the_builder(tmp_path: Path) -> None:
    """One call per env step: the buffer's own n-step builder, and its windows in the state."""
    kwargs = {"n_step": 3, "gamma": 0.5, "num_envs": 2}
    buffer = UniformReplayBuffer(100, (1,), **kwargs)
    reference, builder = UniformReplayBuffer(100, (1,)), NStepBuilder(3, 0.5, 2, (1,))
    rng = np.random.default_rng(0)

    def step(*buffers: ReplayBuffer) -> None:
        ids = np.flatnonzero(rng.random(2) < 0.8)
        obs, ends = rng.random((len(ids), 1)), rng.random((2, len(ids))) < 0.2
        args = (ids, obs, ids, rng.random(len(ids)), obs + 1, *ends)
        reference.add(*builder.push(*args))
        for buffer in buffers:
            buffer.add_steps(*args)

    for _ in range(20):
        step(buffer)
    restored = UniformReplayBuffer(100, (1,), **kwargs)
    restored.load_state_dict(save_and_load(buffer.state_dict(), tmp_path))
    for _ in range(20):
        step(buffer, restored)
    for other in (reference, restored):
        assert_same_rows(buffer, other)
