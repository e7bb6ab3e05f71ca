"""Prioritized replay: sampling distribution, importance weights, priorities, beta, wrap-around."""

from pathlib import Path

import numpy as np
import pytest
import torch
from test_replay import add_numbered, assert_consistent, assert_same_rows, save_and_load

from dqnlab.replay.buffer import PrioritizedReplayBuffer


def set_priorities(buffer: PrioritizedReplayBuffer, td_errors: list[float]) -> None:
    buffer.update_priorities(np.arange(len(td_errors)), torch.tensor(td_errors))


def test_sampling_distribution_matches_priorities() -> None:
    buffer = PrioritizedReplayBuffer(8, (1,), seed=0, alpha=0.6)
    add_numbered(buffer, 0, 8)
    td_errors = [0.0, 0.5, -1.0, 2.0, -3.0, 5.0, 8.0, -13.0]
    set_priorities(buffer, td_errors)
    expected = (np.abs(td_errors) + 1e-6) ** 0.6
    expected /= expected.sum()
    draws = 200_000
    counts = np.bincount(
        np.concatenate([buffer.sample(1000).indices for _ in range(draws // 1000)]), minlength=8
    )
    # Stratified draws vary less than independent ones; 5 binomial standard deviations
    # bound each frequency (a false alarm below 1e-6 per row, and the seed is fixed).
    tolerance = 5 * np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(counts / draws - expected) < tolerance)
    assert counts[0] < 50  # |TD error| 0: priority eps^0.6 = 2.5e-4, about 3 draws expected


def test_importance_weights_by_hand() -> None:
    # beta goes 0 -> 1 over 8 added transitions: 0.5 after the 4 below.
    buffer = PrioritizedReplayBuffer(4, (1,), alpha=0.5, beta_start=0.0, beta_steps=8)
    add_numbered(buffer, 0, 4)
    set_priorities(buffer, [1.0, 4.0, 16.0, 64.0])  # p = sqrt(|d| + 1e-6) ~ 1, 2, 4, 8
    assert buffer.beta == 0.5
    # w_i = (N P(i))^-beta / max_j w_j = (p_i / p_0)^-0.5, as leaf 0 (p = 1) has the largest.
    expected = np.array([1.0, 2**-0.5, 0.5, 8**-0.5])
    batch = buffer.sample(64)  # 64 strata narrower than leaf 0's interval [0, 1): it is drawn
    assert batch.weights is not None and batch.weights.dtype == torch.float32
    assert batch.weights.shape == (64,)
    np.testing.assert_allclose(batch.weights.numpy(), expected[batch.indices], rtol=1e-5)
    assert batch.weights.max() == 1.0


def test_new_transitions_get_the_largest_priority_so_far() -> None:
    buffer = PrioritizedReplayBuffer(8, (1,), alpha=1.0, priority_eps=0.5)
    add_numbered(buffer, 0, 2)
    assert buffer.tree.get(np.arange(2)).tolist() == [1.0, 1.0]  # nothing seen yet: 1
    set_priorities(buffer, [2.5, 0.0])  # p = 3, 0.5
    add_numbered(buffer, 2, 1)
    set_priorities(buffer, [0.5])  # the largest so far stays 3, though no row holds it now
    add_numbered(buffer, 3, 1)
    assert buffer.tree.get(np.arange(4)).tolist() == [1.0, 0.5, 3.0, 3.0]


def test_update_priorities_sets_abs_error_plus_eps_to_alpha() -> None:
    buffer = PrioritizedReplayBuffer(4, (1,), alpha=0.6, priority_eps=0.01)
    add_numbered(buffer, 0, 4)
    td_errors = torch.tensor([-2.0, 0.0, 0.5], requires_grad=True)
    buffer.update_priorities(np.array([3, 0, 1]), td_errors)
    # 2.01^0.6, 0.01^0.6, 0.51^0.6; row 2 keeps the initial 1.
    expected = [0.06309573444801933, 0.667639626731701, 1.0, 1.5202591796385234]
    np.testing.assert_allclose(buffer.tree.get(np.arange(4)), expected, rtol=1e-6)
    assert buffer.tree.total == pytest.approx(sum(expected))


def test_beta_anneals_over_transitions_added_not_stored() -> None:
    buffer = PrioritizedReplayBuffer(60, (1,), beta_start=0.4, beta_steps=100)
    assert buffer.beta == pytest.approx(0.4)
    add_numbered(buffer, 0, 50)
    assert buffer.beta == pytest.approx(0.7)
    add_numbered(buffer, 50, 50)  # 100 added, 60 stored
    assert buffer.beta == pytest.approx(1.0)
    add_numbered(buffer, 100, 50)
    assert buffer.beta == 1.0


def test_wrap_around_overwrites_rows_at_the_largest_priority() -> None:
    buffer = PrioritizedReplayBuffer(4, (1,), alpha=1.0, priority_eps=0.5)
    add_numbered(buffer, 0, 4)
    set_priorities(buffer, [0.0, 1.5, 0.5, 0.0])  # p = 0.5, 2, 1, 0.5
    add_numbered(buffer, 4, 2)  # rows 0 and 1 now hold transitions 4 and 5
    assert len(buffer) == 4 and buffer.storage.pos == 2
    assert buffer.storage.obs[:, 0].tolist() == [4, 5, 2, 3]
    assert buffer.tree.get(np.arange(4)).tolist() == [2.0, 2.0, 1.0, 0.5]
    assert buffer.tree.total == 5.5


def test_sample_returns_consistent_rows_with_weights_and_indices() -> None:
    buffer = PrioritizedReplayBuffer(100, (1,), seed=0)
    add_numbered(buffer, 0, 50)
    rng = np.random.default_rng(0)
    set_priorities(buffer, rng.standard_normal(50).tolist())
    batch = buffer.sample(256)
    ids = assert_consistent(batch)
    assert ids.max() < 50  # never samples unwritten rows
    assert batch.indices is not None and batch.indices.dtype == np.int64
    assert np.array_equal(buffer.storage.obs[batch.indices, 0], ids.numpy())
    assert batch.weights is not None
    priorities = buffer.tree.get(batch.indices)
    expected = (priorities.min() / priorities) ** buffer.beta
    np.testing.assert_allclose(batch.weights.numpy(), expected, rtol=1e-6)


def test_same_seed_gives_same_batches() -> None:
    a, b = PrioritizedReplayBuffer(50, (1,), seed=3), PrioritizedReplayBuffer(50, (1,), seed=3)
    for buffer in (a, b):
        add_numbered(buffer, 0, 50)
        set_priorities(buffer, np.linspace(-2, 2, 50).tolist())
    assert np.array_equal(a.sample(32).indices, b.sample(32).indices)


def test_state_round_trip_restores_priorities_and_sampling(tmp_path: Path) -> None:
    buffer = PrioritizedReplayBuffer(64, (1,), seed=0, beta_steps=500)
    add_numbered(buffer, 0, 80)  # wrapped around
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = buffer.sample(16)
        buffer.update_priorities(batch.indices, torch.from_numpy(rng.standard_normal(16) * 3))
    state = save_and_load(buffer.state_dict(), tmp_path)
    restored = PrioritizedReplayBuffer(64, (1,), seed=7, beta_steps=500)
    restored.load_state_dict(state)
    assert_same_rows(buffer, restored)
    assert np.array_equal(buffer.tree.tree, restored.tree.tree)
    assert (restored.max_priority, restored.added) == (buffer.max_priority, 80)
    assert restored.beta == buffer.beta
    for i in range(3):
        a, b = buffer.sample(16), restored.sample(16)
        assert np.array_equal(a.indices, b.indices)
        assert torch.equal(a.weights, b.weights) and torch.equal(a.obs, b.obs)
        errors = torch.full((16,), 10.0 + i)  # raises the largest priority
        buffer.update_priorities(a.indices, errors)
        restored.update_priorities(b.indices, errors)
        add_numbered(buffer, 80 + i, 1)
        add_numbered(restored, 80 + i, 1)
    assert np.array_equal(buffer.tree.tree, restored.tree.tree)
    assert restored.max_priority == buffer.max_priority


def test_state_of_a_part_filled_buffer_keeps_only_its_rows(tmp_path: Path) -> None:
    buffer = PrioritizedReplayBuffer(64, (1,), seed=0)
    add_numbered(buffer, 0, 10)
    state = save_and_load(buffer.state_dict(), tmp_path)
    assert len(state["priorities"]) == len(state["storage"]["obs"]) == 10
    restored = PrioritizedReplayBuffer(64, (1,), seed=0)
    restored.load_state_dict(state)
    assert np.array_equal(buffer.tree.tree, restored.tree.tree)
    assert np.array_equal(buffer.sample(8).indices, restored.sample(8).indices)
