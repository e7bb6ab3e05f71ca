"""A sum tree over non-negative priorities: batched prefix-sum search and updates.

Each node has BRANCHING children stored side by side, so one step down reads one cache line
(8 float64) instead of the one cache miss per level of a binary tree: 7 levels at 1M leaves
instead of 20. Walking the tree is a short scalar loop per batch item compiled with numba:
in NumPy every level costs several calls for the whole batch, and at 1M leaves that overhead
alone was 4x the cost of a uniform sample (bench/replay_sampling.py).
"""

import numba
import numpy as np

BRANCHING = 8  # 8 float64 = one 64-byte cache line


@numba.njit(cache=True, nogil=True)
def _update(tree: np.ndarray, starts: np.ndarray, leaves: np.ndarray, values: np.ndarray) -> None:
    """Set each leaf, then recompute its ancestors from their children (no drift from deltas).

    Leaves are written in order, so a repeated leaf keeps its last value.
    """
    leaf_level = len(starts) - 1
    for i in range(len(leaves)):
        node = leaves[i]
        tree[starts[leaf_level] + node] = values[i]
        for level in range(leaf_level - 1, -1, -1):
            node //= BRANCHING
            first_child = starts[level + 1] + node * BRANCHING
            tree[starts[level] + node] = tree[first_child : first_child + BRANCHING].sum()


@numba.njit(cache=True, nogil=True)
def _find(tree: np.ndarray, starts: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """Descend all values together, one level at a time, to the leaves holding them.

    Level by level, the items' memory reads do not wait on each other, so the CPU overlaps
    their cache misses (at 1M leaves the lower levels do not fit in cache). Within a node
    the child is found without branches: the number of children whose running sum is still
    <= the value.
    """
    values = values.copy()
    out[:] = 0
    for level in range(1, len(starts)):
        for i in range(len(values)):
            first_child = starts[level] + out[i] * BRANCHING
            running, passed_sum, chosen = 0.0, 0.0, 0
            for child in range(BRANCHING):
                running += tree[first_child + child]
                passed = running <= values[i]
                chosen += passed
                passed_sum = running if passed else passed_sum
            values[i] -= passed_sum
            if chosen == BRANCHING:
                # Rounding left the value at or past this node's sum: take the last non-empty
                # child, at its end, so a zero-priority leaf is never returned.
                chosen = BRANCHING - 1
                while tree[first_child + chosen] <= 0.0:
                    chosen -= 1
                values[i] = tree[first_child + chosen]
            out[i] = out[i] * BRANCHING + chosen


class SumTree:
    """Leaf priorities and every subtree's sum, for sampling in proportion to priority."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        sizes = [capacity]  # nodes per level, from the leaves up
        while sizes[-1] > 1:
            sizes.append(-(-sizes[-1] // BRANCHING))
        # Levels from the root down, each padded to whole blocks of children.
        padded = [1] + [parents * BRANCHING for parents in reversed(sizes[1:])]
        self.starts = np.cumsum([0, *padded[:-1]]).astype(np.int64)
        self.tree = np.zeros(sum(padded), dtype=np.float64)

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self.tree[0])

    def get(self, indices: np.ndarray) -> np.ndarray:
        """The priorities of the leaves at `indices`."""
        return self.tree[self.starts[-1] + indices]

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set leaf `indices[i]` to `priorities[i]` (>= 0); a repeated index keeps the last."""
        _update(
            self.tree,
            self.starts,
            np.asarray(indices, dtype=np.int64),
            np.asarray(priorities, dtype=np.float64),
        )

    def find(self, values: np.ndarray) -> np.ndarray:
        """For each value in [0, total), the leaf whose prefix-sum interval holds it.

        Leaf i holds [sum(p[:i]), sum(p[:i + 1])), so a zero-priority leaf is never returned.
        Needs total > 0.
        """
        leaves = np.empty(len(values), dtype=np.int64)
        _find(self.tree, self.starts, np.asarray(values, dtype=np.float64), leaves)
        return leaves
