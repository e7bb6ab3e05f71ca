"""Sum tree: exact totals, prefix-sum search against brute force, boundaries."""

import numpy as np
import pytest

from dqnlab.replay.sum_tree import SumTree


def brute_force_find(priorities: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.cumsum(priorities), values, side="right")


def test_total_follows_updates_repeats_and_overwrites() -> None:
    tree = SumTree(10)  # 16 leaves, 6 never written
    tree.update(np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0]))
    assert tree.total == 6.0
    tree.update(np.array([1, 9, 1]), np.array([5.0, 4.0, 0.5]))  # leaf 1 twice: 0.5 wins
    assert tree.total == 1.0 + 0.5 + 3.0 + 4.0
    tree.update(np.array([0]), np.array([0.0]))
    assert tree.total == 7.5
    assert tree.get(np.array([0, 1, 2, 9])).tolist() == [0.0, 0.5, 3.0, 4.0]


def test_repeated_index_keeps_its_last_value() -> None:
    tree = SumTree(37)
    tree.update(np.array([3, 5, 3, 3]), np.array([1.0, 2.0, 7.0, 5.0]))
    assert tree.get(np.array([3, 5])).tolist() == [5.0, 2.0]
    assert tree.total == 7.0


def test_sums_depend_only_on_the_leaves() -> None:
    """Parents are recomputed from their children, not adjusted by deltas: no drift."""
    rng = np.random.default_rng(0)
    tree = SumTree(1000)
    for _ in range(300):
        tree.update(rng.integers(0, 1000, 64), rng.random(64) * 10.0 ** rng.integers(-6, 6))
    fresh = SumTree(1000)
    fresh.update(np.arange(1000), tree.get(np.arange(1000)))
    assert tree.total == fresh.total
    assert tree.total == pytest.approx(tree.get(np.arange(1000)).sum(), rel=1e-12)


@pytest.mark.parametrize("capacity", [1000, 37])
def test_find_matches_brute_force(capacity: int) -> None:
    rng = np.random.default_rng(capacity)
    priorities = rng.random(capacity) * 10.0 ** rng.integers(-3, 3, capacity)
    priorities[rng.random(capacity) < 0.3] = 0.0
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), priorities)
    values = rng.random(20_000) * priorities.sum()
    assert np.array_equal(tree.find(values), brute_force_find(priorities, values))


def test_boundaries_and_zero_priorities() -> None:
    priorities = np.array([0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0])  # leading, inner, trailing zeros
    tree = SumTree(7)
    tree.update(np.arange(7), priorities)
    below_total = np.nextafter(5.0, 0.0)
    values = np.array([0.0, np.nextafter(2.0, 0.0), 2.0, below_total, 5.0, 6.0])
    # [0, 2) is leaf 1 and [2, 5) leaf 4; the total and past it are rounding the guard absorbs.
    assert tree.find(values).tolist() == [1, 1, 4, 4, 4, 4]


def test_zero_priority_leaves_are_never_returned() -> None:
    rng = np.random.default_rng(1)
    priorities = rng.random(1000)
    priorities[rng.random(1000) < 0.5] = 0.0
    priorities[900:] = 0.0  # an unwritten tail, as in a buffer that is not full yet
    tree = SumTree(1000)
    tree.update(np.arange(1000), priorities)
    # Every boundary exactly, the total, and values at the ends of the range.
    edges = np.concatenate(
        [[0.0], np.cumsum(priorities), [tree.total, np.nextafter(tree.total, 0)]]
    )
    leaves = tree.find(np.concatenate([edges, rng.random(10_000) * tree.total]))
    assert (priorities[leaves] > 0).all()
    assert leaves.max() == np.flatnonzero(priorities).max()


def test_every_block_of_children_starts_on_a_cache_line() -> None:
    for capacity in (7, 1000, 1_000_000):
        tree = SumTree(capacity)
        assert tree.tree.ctypes.data % 64 == 0
        assert (tree.starts % 8 == 0).all()


@pytest.mark.parametrize(("capacity", "beta"), [(1000, 0.4), (37, 1.0), (37, 0.0)])
def test_sample_stratified_matches_brute_force(capacity: int, beta: float) -> None:
    rng = np.random.default_rng(capacity)
    priorities = rng.random(capacity) * 10.0 ** rng.integers(-3, 3, capacity)
    priorities[rng.random(capacity) < 0.3] = 0.0
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), priorities)
    for n in (1, 64, 512):
        uniforms = rng.random(n)
        leaves, weights = tree.sample_stratified(uniforms, beta)
        values = (np.arange(n) + uniforms) * (tree.total / n)
        assert np.array_equal(leaves, brute_force_find(priorities, values))
        chosen = priorities[leaves]
        assert weights.dtype == np.float32
        np.testing.assert_allclose(weights, (chosen.min() / chosen) ** beta, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_set_from_errors_matches_numpy(dtype: type) -> None:
    rng = np.random.default_rng(2)
    tree = SumTree(300)
    tree.update(np.arange(300), rng.random(300))
    indices = rng.integers(0, 300, 200)  # with repeats: the last one counts
    errors = (rng.standard_normal(200) * 3).astype(dtype)
    errors[:3] = 0.0
    largest = tree.set_from_errors(indices, errors, 1e-6, 0.6, 2.0)
    priorities = (np.abs(errors) + dtype(1e-6)) ** dtype(0.6)
    assert priorities.dtype == dtype
    expected = SumTree(300)
    expected.update(np.arange(300), tree.get(np.arange(300)))
    expected.update(indices, priorities)
    np.testing.assert_allclose(tree.tree, expected.tree, rtol=1e-6)
    assert tree.total == pytest.approx(expected.total, rel=1e-6)
    assert largest == pytest.approx(max(2.0, priorities.max()), rel=1e-6)
    assert tree.set_from_errors(indices[:1], errors[:1], 1e-6, 0.6, 100.0) == 100.0
