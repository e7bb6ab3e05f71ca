"""Cost of prioritized replay per batch, next to uniform sampling from the same storage.

    python bench/replay_sampling.py                  # 1M transitions of 8 float32 (LunarLander)
    python bench/replay_sampling.py --obs-shape 4 84 84 --obs-dtype uint8 --capacity 100000

Both buffers are filled to capacity; the prioritized one then gets a spread of priorities
(|TD errors| from a standard normal). They are timed in alternating rounds, so machine noise
hits both alike: uniform `sample(batch)` against prioritized `sample(batch)` followed by
`update_priorities`, as the training loop calls them. Reports the median over rounds of the
microseconds per batch and their ratio (the issue's target: at most 2), and, in the same
rounds, the bare sum tree's `find` + `update` per batch.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from dqnlab.replay.buffer import PrioritizedReplayBuffer, ReplayBuffer, UniformReplayBuffer
from dqnlab.replay.sum_tree import SumTree

FILL_CHUNK = 10_000  # rows per add while filling


def fill(buffer: ReplayBuffer, obs_shape: tuple[int, ...], rng: np.random.Generator) -> None:
    for start in range(0, buffer.storage.capacity, FILL_CHUNK):
        n = min(FILL_CHUNK, buffer.storage.capacity - start)
        obs = rng.integers(0, 256, (n, *obs_shape)).astype(buffer.storage.obs.dtype)
        buffer.add(
            obs,
            rng.integers(0, 4, n),
            rng.standard_normal(n, dtype=np.float32),
            obs,
            (rng.random(n) < 0.01).astype(np.float32),
            np.full(n, 0.99, dtype=np.float32),
        )


def tree_step(tree: SumTree, batch_size: int, rng: np.random.Generator) -> Callable[[], None]:
    """One batch of a bare sum tree: stratified find, then new priorities for the leaves found."""
    strata = np.arange(batch_size)

    def step() -> None:
        leaves = tree.find((strata + rng.random(batch_size)) * (tree.total / batch_size))
        tree.update(leaves, np.abs(rng.standard_normal(batch_size)) ** 0.6)

    return step


def time_round(step: Callable[[], None], batches: int, device: torch.device) -> float:
    """Microseconds per call of `step`, waiting for the device's copies to finish."""
    start = time.perf_counter()
    for _ in range(batches):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / batches * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--obs-shape", type=int, nargs="+", default=[8])
    parser.add_argument("--obs-dtype", default="float32")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batches", type=int, default=200, help="batches per round")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    obs_shape, device, n = tuple(args.obs_shape), torch.device(args.device), args.batch_size
    rng = np.random.default_rng(0)
    kwargs = {"obs_dtype": np.dtype(args.obs_dtype), "device": device}
    uniform = UniformReplayBuffer(args.capacity, obs_shape, **kwargs)
    prioritized = PrioritizedReplayBuffer(args.capacity, obs_shape, **kwargs)
    fill(uniform, obs_shape, rng)
    fill(prioritized, obs_shape, rng)
    for start in range(0, args.capacity, FILL_CHUNK):
        rows = np.arange(start, min(start + FILL_CHUNK, args.capacity))
        prioritized.update_priorities(rows, torch.from_numpy(rng.standard_normal(len(rows))))
    td_errors = torch.randn(n, device=device)  # as the learner returns them

    def prioritized_step() -> None:
        batch = prioritized.sample(n)
        prioritized.update_priorities(batch.indices, td_errors)

    steps = {
        "uniform sample": lambda: uniform.sample(n),
        "prioritized sample + update": prioritized_step,
    }
    tree = SumTree(args.capacity)
    tree.update(np.arange(args.capacity), np.abs(rng.standard_normal(args.capacity)) ** 0.6)
    steps["sum tree find + update"] = tree_step(tree, n, rng)

    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            times[name].append(time_round(step, args.batches, device))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"capacity {args.capacity:,}, obs {obs_shape} {args.obs_dtype}, batch {n}, device "
        f"{device}: median of {args.rounds} rounds x {args.batches} batches, us per batch"
    )
    for name, us in medians.items():
        print(f"  {name:45s} {us:8.1f}")
    ratio = medians["prioritized sample + update"] / medians["uniform sample"]
    print(f"prioritized / uniform: {ratio:.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()
