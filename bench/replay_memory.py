"""Memory and sample time of Atari replay: frame storage against full (s, s') rows.

    python bench/replay_memory.py                   # 84x84 frames in stacks of 4, 20k transitions
    python bench/replay_memory.py --capacity 100000 --num-envs 8 --episode-steps 400

Both storages are filled to capacity through `add_steps`, the call the training loop makes,
from a synthetic stream of frame stacks: random 84x84 frames, episodes ending at random
(--episode-steps on average) and starting from a stack of the repeated reset frame. Reports
the bytes each storage allocates per row; the bytes per stored transition once full (the
frame storage also holds padding frames and rows whose stacks were overwritten); the
projected size of 1M transitions; the median time to store one vector step and, over
alternating rounds, to sample a batch.
"""

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from dqnlab.replay.buffer import UniformReplayBuffer
from dqnlab.replay.sum_tree import SumTree

MILLION = 1_000_000


class StackStream:
    """Frame stacks of `num_envs` envs (newest frame last), each step a real one: an ended
    episode's env continues from a reset stack, as after the loop's unstored autoreset step."""

    def __init__(self, num_envs: int, shape: tuple[int, ...], episode_steps: float) -> None:
        self.rng = np.random.default_rng(0)
        self.shape, self.end_p = shape, 1 / episode_steps
        self.obs = self._reset_stacks(num_envs)

    def _reset_stacks(self, count: int) -> np.ndarray:
        frames = self.rng.integers(0, 256, (count, 1, *self.shape[1:]), dtype=np.uint8)
        return np.repeat(frames, self.shape[0], axis=1)

    def step(self) -> tuple[np.ndarray, ...]:
        """env ids, obs, actions, rewards, next obs, terminated, truncated."""
        n = len(self.obs)
        new = self.rng.integers(0, 256, (n, 1, *self.shape[1:]), dtype=np.uint8)
        next_obs = np.concatenate([self.obs[:, 1:], new], axis=1)
        ended = self.rng.random(n) < self.end_p
        step = (np.arange(n), self.obs, self.rng.integers(0, 6, n), self.rng.random(n))
        self.obs = next_obs.copy()
        self.obs[ended] = self._reset_stacks(int(ended.sum()))
        return (*step, next_obs, ended, np.zeros(n, dtype=bool))


def allocated(buffer: UniformReplayBuffer) -> int:
    """Bytes of the storage's arrays."""
    return sum(a.nbytes for a in vars(buffer.storage).values() if isinstance(a, np.ndarray))


def fill(buffer: UniformReplayBuffer, stream: StackStream, steps: int) -> float:
    """Store `steps` vector steps; return the median seconds of one `add_steps`."""
    times = []
    for _ in range(steps):
        step = stream.step()
        start = time.perf_counter()
        buffer.add_steps(*step)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_round(call: Callable[[], object], batches: int, device: torch.device) -> float:
    """Microseconds per call over one round, waiting for the device's copies."""
    start = time.perf_counter()
    for _ in range(batches):
        call()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / batches * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=20_000)
    parser.add_argument("--obs-shape", type=int, nargs=3, default=[4, 84, 84])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--n-step", type=int, default=3)
    parser.add_argument("--episode-steps", type=float, default=400, help="mean episode length")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batches", type=int, default=200, help="batches per round")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    shape, device = tuple(args.obs_shape), torch.device(args.device)
    print(
        f"obs {shape} uint8, {args.num_envs} envs, {args.n_step}-step, episodes of "
        f"{args.episode_steps:g} steps on average, capacity {args.capacity:,}, device {device}"
    )
    buffers, store_s = {}, {}
    for storage in ("transitions", "frames"):
        buffers[storage] = UniformReplayBuffer(
            args.capacity,
            shape,
            np.uint8,
            device,
            storage=storage,
            n_step=args.n_step,
            num_envs=args.num_envs,
        )
        stream = StackStream(args.num_envs, shape, args.episode_steps)
        # Enough steps to fill every env's segment and wrap once more.
        store_s[storage] = fill(buffers[storage], stream, 2 * args.capacity // args.num_envs + 100)
    # Alternating rounds, so machine noise and the allocator's state hit both alike.
    sample_us: dict[str, list[float]] = {storage: [] for storage in buffers}
    for _ in range(args.rounds):
        for storage, buffer in buffers.items():
            call = partial(buffer.sample, args.batch_size)
            sample_us[storage].append(time_round(call, args.batches, device))
    per_transition = {}
    for storage, buffer in buffers.items():
        per_transition[storage] = allocated(buffer) / len(buffer)
        print(
            f"  {storage:11s}: {allocated(buffer) / args.capacity:7,.0f} B/row allocated, "
            f"{per_transition[storage]:7,.0f} B/transition stored ({len(buffer):,}); "
            f"1M transitions: {per_transition[storage] * MILLION / 1e9:5.2f} GB "
            f"({per_transition[storage] * MILLION / 2**30:5.2f} GiB); "
            f"store a step {store_s[storage] * 1e6:5.0f} us; sample {args.batch_size} "
            f"{statistics.median(sample_us[storage]):6.0f} us"
        )
    tree_bytes = SumTree(args.capacity).tree.nbytes / args.capacity
    print(
        f"  frames / transitions: {per_transition['frames'] / per_transition['transitions']:.3f}"
        f" of the bytes; prioritized replay adds a sum tree of {tree_bytes:.1f} B/row"
    )


if __name__ == "__main__":
    main()
