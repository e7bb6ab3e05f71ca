"""A sum tree over non-negative priorities: batched prefix-sum search and updates.

Each node has BRANCHING children stored side by side in one 64-byte-aligned block, so one
step down reads one cache line (8 float64) instead of the one cache miss per level of a
binary tree: 7 levels at 1M leaves instead of 20. Walking the tree is a short scalar loop per
batch item compiled with numba: in NumPy every level costs several calls for the whole batch,
and at 1M leaves that overhead alone was 4x the cost of a uniform sample
(bench/replay_sampling.py). For the same reason prioritized replay's per-batch math (strata,
importance weights, priorities from TD errors) runs inside the same compiled calls.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.base import BaseContext
from numba.core.typing.templates import Signature
from numba.extending import intrinsic

BRANCHING = 8  # 8 float64 = one 64-byte cache line
CACHE_LINE = 64  # bytes


@intrinsic
def _prefetch(typingctx: object, array: types.Array, index: types.Integer) -> tuple:
    """Start loading the cache line of `array[index]` (llvm.prefetch): a hint that never
    faults, so the load overlaps the work before the value is needed."""

    def codegen(context: BaseContext, builder: ir.IRBuilder, sig: Signature, args: list) -> None:
        array_type = sig.args[0]
        struct = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, struct, [args[1]])
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32]),
            "llvm.prefetch.p0",
        )
        # Read (0), keep in all cache levels (3), data cache (1).
        builder.call(prefetch, [pointer, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, types.intp), codegen


@numba.njit(cache=True, nogil=True)
def _update(tree: np.ndarray, starts: np.ndarray, leaves: np.ndarray, values: np.ndarray) -> None:
    """Set the leaves in order (a repeated leaf keeps its last value), then recompute their
    ancestors from their children (no drift from deltas).

    Level by level, like `_descend`, so the items' cache misses overlap.
    """
    leaf_level = len(starts) - 1
    nodes = leaves.astype(np.int64)  # each leaf's ancestor at the level being recomputed
    for i in range(len(nodes)):
        tree[starts[leaf_level] + nodes[i]] = values[i]
    for level in range(leaf_level - 1, -1, -1):
        for i in range(len(nodes)):
            nodes[i] //= BRANCHING
            first_child = starts[level + 1] + nodes[i] * BRANCHING
            total = 0.0
            for child in range(BRANCHING):
                total += tree[first_child + child]
            tree[starts[level] + nodes[i]] = total


@numba.njit(cache=True, nogil=True)
def _descend(tree: np.ndarray, starts: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """Descend all values together, one level at a time, to the leaves holding them; `values`
    is used up.

    Level by level, the items' memory reads do not wait on each other, and each item's next
    block is prefetched as soon as it is known, so the cache misses of a whole level overlap
    (at 1M leaves the lower levels do not fit in cache). Within a node the child is found
    without branches: the number of children whose running sum is still <= the value.
    """
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
            if level + 1 < len(starts):
                # Its children are read one pass over the batch later: time for the miss.
                _prefetch(tree, starts[level + 1] + out[i] * BRANCHING)


@numba.njit(cache=True, nogil=True)
def _find(tree: np.ndarray, starts: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """`_descend` on a copy of `values`."""
    _descend(tree, starts, values.copy(), out)


@numba.njit(cache=True, nogil=True)
def _sample_stratified(
    tree: np.ndarray,
    starts: np.ndarray,
    uniforms: np.ndarray,
    beta: float,
    leaves: np.ndarray,
    weights: np.ndarray,
) -> None:
    """`leaves[i]` holds the value (i + uniforms[i]) * total / n; `weights[i]` is
    (min_j p_j / p_i)^beta over the batch's priorities, in float64 rounded to `weights`' dtype."""
    n = len(uniforms)
    stratum = tree[0] / n
    values = np.empty(n)
    for i in range(n):
        values[i] = (i + uniforms[i]) * stratum
    _descend(tree, starts, values, leaves)
    first_leaf = starts[len(starts) - 1]
    smallest = np.inf
    for i in range(n):
        values[i] = tree[first_leaf + leaves[i]]  # the priority, reusing the spent values
        smallest = min(smallest, values[i])
    for i in range(n):
        ratio = smallest / values[i]
        # beta is 1 from beta_steps on, most of a run: skip pow, exact as x^1 = x.
        weights[i] = ratio if beta == 1.0 else ratio**beta


@numba.njit(cache=True, nogil=True)
def _set_from_errors(
    tree: np.ndarray,
    starts: np.ndarray,
    leaves: np.ndarray,
    errors: np.ndarray,
    eps: float,
    alpha: float,
    largest: float,
) -> float:
    """Set leaf i to (|errors[i]| + eps)^alpha, in the errors' dtype; return the largest of
    `largest` and the new priorities (a NaN priority is not the largest)."""
    eps_, alpha_ = errors.dtype.type(eps), errors.dtype.type(alpha)
    priorities = np.empty(len(errors))
    for i in range(len(errors)):
        priority = (abs(errors[i]) + eps_) ** alpha_
        priorities[i] = priority
        if priority > largest:
            largest = priority
    _update(tree, starts, leaves, priorities)
    return largest


class SumTree:
    """Leaf priorities and every subtree's sum, for sampling in proportion to priority."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        sizes = [capacity]  # nodes per level, from the leaves up
        while sizes[-1] > 1:
            sizes.append(-(-sizes[-1] // BRANCHING))
        # Levels from the root down, each padded to whole blocks of children; the root's level
        # too, so that every block starts on a cache line.
        padded = [BRANCHING] + [parents * BRANCHING for parents in reversed(sizes[1:])]
        self.starts = np.cumsum([0, *padded[:-1]]).astype(np.int64)
        memory = np.zeros(sum(padded) + BRANCHING, dtype=np.float64)
        skip = -memory.ctypes.data % CACHE_LINE // memory.itemsize
        self.tree = memory[skip : skip + sum(padded)]

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

    def sample_stratified(self, uniforms: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
        """One leaf in each of n = len(uniforms) equal slices of the total, at fraction
        `uniforms[i]` (in [0, 1)) of slice i, and its importance-sampling weight
        (min_j p_j / p_i)^beta as float32: the smallest priority is the batch's. Needs total > 0.
        """
        leaves = np.empty(len(uniforms), dtype=np.int64)
        weights = np.empty(len(uniforms), dtype=np.float32)
        _sample_stratified(self.tree, self.starts, uniforms, beta, leaves, weights)
        return leaves, weights

    def set_from_errors(
        self, indices: np.ndarray, errors: np.ndarray, eps: float, alpha: float, largest: float
    ) -> float:
        """Set leaf `indices[i]` to (|errors[i]| + eps)^alpha, computed in the errors' float
        dtype; return the largest of `largest` and these priorities."""
        return _set_from_errors(
            self.tree, self.starts, np.asarray(indices, dtype=np.int64), errors, eps, alpha, largest
        )
