"""Frame storage: rebuilt stacks equal the env's own, across episode ends, wrap-around,
n-step targets, prioritized sampling and checkpoints."""

from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from test_replay import save_and_load

from dqnlab.errors import ConfigError
from dqnlab.replay.buffer import PrioritizedReplayBuffer, ReplayBuffer, UniformReplayBuffer
from dqnlab.replay.frames import FrameStorage
from dqnlab.replay.storage import TransitionStorage

FRAME = (6, 5)  # height, width: small, but frames as random as a screen's
STACK = 4
TIME_LIMIT = 6  # truncation; terminations come at random before it
GAMMA = 0.9

Key = tuple[bytes, int, float, bytes, float]


class FlickerEnv(gym.Env):
    """Random uint8 frames; an episode terminates with probability 0.2 per step."""

    observation_space = gym.spaces.Box(0, 255, FRAME, np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self._frame(), {}

    def step(self, action: int):
        terminated = bool(self.np_random.random() < 0.2)
        return self._frame(), action + self.np_random.random(), terminated, False, {}

    def _frame(self) -> np.ndarray:
        return self.np_random.integers(0, 256, FRAME, dtype=np.uint8)


def make_envs(num_envs: int, padding: str = "reset") -> gym.vector.VectorEnv:
    """Frame-stacked envs, stepped as the loop steps them: NextStep autoreset."""

    def make() -> gym.Env:
        env = gym.wrappers.TimeLimit(FlickerEnv(), TIME_LIMIT)
        return gym.wrappers.FrameStackObservation(env, STACK, padding_type=padding)

    return gym.vector.SyncVectorEnv([make] * num_envs, autoreset_mode=AutoresetMode.NEXT_STEP)


class Feeder:
    """Steps envs with random actions and stores the real steps as the training loop does;
    keeps every real step the envs gave, and how their episodes ended."""

    def __init__(self, envs: gym.vector.VectorEnv, seed: int = 0) -> None:
        self.envs, self.rng = envs, np.random.default_rng(seed)
        self.obs, _ = envs.reset(seed=seed)
        self.resets_next = np.zeros(envs.num_envs, dtype=bool)
        self.steps: list[Key] = []
        self.terminations = self.truncations = 0

    def run(self, buffers: list[ReplayBuffer], steps: int) -> "Feeder":
        for _ in range(steps):
            actions = self.rng.integers(0, 3, self.envs.num_envs)
            next_obs, rewards, terminated, truncated, _ = self.envs.step(actions)
            real = ~self.resets_next
            step = (
                self.obs[real],
                actions[real],
                rewards[real],
                next_obs[real],
                terminated[real],
                truncated[real],
            )
            for buffer in buffers:
                buffer.add_steps(np.flatnonzero(real), *step)
            self.steps += [
                (o.tobytes(), int(a), float(np.float32(r)), n.tobytes(), float(t))
                for o, a, r, n, t, _ in zip(*step, strict=True)
            ]
            self.terminations += int(terminated[real].sum())
            self.truncations += int(truncated[real].sum())
            self.resets_next = terminated | truncated
            self.obs = next_obs
        return self


def stored(buffer: ReplayBuffer) -> Counter[tuple[Key, float]]:
    """Every transition the buffer can sample, with its discount, read through `gather`."""
    storage = buffer.storage
    rows = (
        np.flatnonzero(storage.valid)
        if isinstance(storage, FrameStorage)
        else np.arange(len(storage))
    )
    batch = storage.gather(rows)
    return Counter(
        ((o.numpy().tobytes(), int(a), float(r), n.numpy().tobytes(), float(t)), float(d))
        for o, a, r, n, t, d in zip(*batch[:6], strict=True)
    )


def frame_buffer(
    capacity: int, num_envs: int, n_step: int = 1, storage: str = "auto"
) -> UniformReplayBuffer:
    """A buffer for the test envs' observations; `auto` gives frame storage."""
    return UniformReplayBuffer(
        capacity,
        (STACK, *FRAME),
        np.uint8,
        storage=storage,
        n_step=n_step,
        gamma=GAMMA,
        num_envs=num_envs,
    )


@pytest.mark.parametrize("padding", ["reset", "zero"])
def test_rebuilt_stacks_equal_the_envs_across_episode_ends(padding: str) -> None:
    buffer = frame_buffer(2000, 3)
    assert isinstance(buffer.storage, FrameStorage)  # auto: uint8 (stack, H, W)
    fed = Feeder(make_envs(3, padding)).run([buffer], 300)
    assert fed.terminations > 30 and fed.truncations > 10  # many boundaries inside stacks
    # One-step transitions: each is exactly one real env step, stacks byte for byte.
    assert stored(buffer) == Counter((step, float(np.float32(GAMMA))) for step in fed.steps)
    assert len(buffer) == len(fed.steps)
    # Each frame once, plus stack - 1 padding frames at each episode start.
    assert buffer.storage.written.sum() < len(fed.steps) + STACK * (
        fed.terminations + fed.truncations + 3
    )


def test_n_step_targets_equal_the_transition_storages() -> None:
    lean, flat = (
        frame_buffer(3000, 3, n_step=3),
        frame_buffer(3000, 3, n_step=3, storage="transitions"),
    )
    assert isinstance(flat.storage, TransitionStorage)
    fed = Feeder(make_envs(3)).run([lean, flat], 300)
    assert stored(lean) == stored(flat)
    assert len(lean) == len(flat) == len(fed.steps) - sum(lean.returns.count)  # pending wait


def test_wrap_around_keeps_only_intact_transitions() -> None:
    capacity, num_envs = 62, 3  # segments of 21, 21, 20 frame rows
    buffer = frame_buffer(capacity, num_envs, n_step=3)
    flat = frame_buffer(5000, num_envs, n_step=3, storage="transitions")
    fed = Feeder(make_envs(num_envs)).run([buffer, flat], 400)
    assert buffer.storage.written.min() > 5 * capacity / num_envs  # wrapped several times
    everything = stored(flat)
    kept = stored(buffer)
    assert all(everything[key] >= count for key, count in kept.items())  # no corrupt stack
    assert len(buffer) == sum(kept.values()) == buffer.storage.valid.sum()
    # Rows without a transition: stack padding (3 per episode; these average 3.4 steps),
    # the 3 rows whose stacks read the overwritten frame, pending steps.
    assert len(buffer) > capacity / 4 and len(fed.steps) > 3 * capacity
    batch = buffer.sample(256)
    assert buffer.storage.valid[batch.indices].all()


def test_prioritized_sampling_draws_only_valid_rows() -> None:
    buffer = PrioritizedReplayBuffer(
        62, (STACK, *FRAME), np.uint8, alpha=1.0, storage="auto", n_step=3, gamma=GAMMA, num_envs=3
    )
    flat = frame_buffer(5000, 3, n_step=3, storage="transitions")
    Feeder(make_envs(3)).run([buffer, flat], 400)
    leaves = buffer.tree.get(np.arange(62))
    assert np.array_equal(leaves > 0, buffer.storage.valid)  # dropped rows lost their priority
    everything = stored(flat)
    for _ in range(20):
        batch = buffer.sample(32)
        assert buffer.storage.valid[batch.indices].all()
        for o, a, r, n, t, d in zip(*batch[:6], strict=True):
            key = (o.numpy().tobytes(), int(a), float(r), n.numpy().tobytes(), float(t))
            assert everything[(key, float(d))] > 0
        buffer.update_priorities(batch.indices, batch.rewards * 3)
    assert buffer.added == sum(everything.values())  # beta's clock counts every transition


@pytest.mark.parametrize("kind", [UniformReplayBuffer, PrioritizedReplayBuffer])
def test_state_round_trip_continues_identically(tmp_path: Path, kind: type) -> None:
    def make(seed: int) -> ReplayBuffer:
        return kind(
            62,
            (STACK, *FRAME),
            np.uint8,
            seed=seed,
            storage="auto",
            n_step=3,
            gamma=GAMMA,
            num_envs=3,
        )

    buffer, feeder = make(0), Feeder(make_envs(3))
    feeder.run([buffer], 30)
    buffer.sample(8)
    restored = make(1)
    restored.load_state_dict(save_and_load(buffer.state_dict(), tmp_path))
    assert stored(restored) == stored(buffer) and len(restored) == len(buffer)
    for _ in range(3):  # through the restored n-step windows, then on around the ring
        feeder.run([buffer, restored], 30)
        a, b = buffer.sample(32), restored.sample(32)
        assert np.array_equal(a.indices, b.indices)
        assert all(np.array_equal(x, y) for x, y in zip(a[:6], b[:6], strict=True))


def test_a_state_of_a_part_filled_buffer_keeps_only_written_rows() -> None:
    buffer = frame_buffer(3000, 3)
    Feeder(make_envs(3)).run([buffer], 10)
    state = buffer.state_dict()["storage"]
    assert [len(rows) for rows in state["frames"]] == buffer.storage.written.tolist()


def test_envs_reset_outside_the_buffer_start_new_stacks() -> None:
    """A resume whose envs restart: the n-step windows are dropped, the stacks still match."""
    lean, flat = (
        frame_buffer(3000, 2, n_step=3),
        frame_buffer(3000, 2, n_step=3, storage="transitions"),
    )
    envs = make_envs(2)
    Feeder(envs).run([lean, flat], 23)
    for buffer in (lean, flat):
        buffer.returns.clear()
    Feeder(envs, seed=5).run([lean, flat], 50)  # resets the envs mid-episode
    assert stored(lean) == stored(flat)


def test_observations_that_are_not_frame_stacks_are_refused() -> None:
    buffer = frame_buffer(100, 1)
    obs = np.zeros((1, STACK, *FRAME), dtype=np.uint8)
    with pytest.raises(ValueError, match="not frame stacks"):
        buffer.add_steps(
            np.array([0]), obs, np.array([0]), np.array([0.0]), obs + 1, *[np.array([False])] * 2
        )


def test_storage_choice_and_its_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"buffer\.capacity=30"):
        frame_buffer(30, 2, n_step=3)
    for shape, dtype in [((4,), np.float32), ((96, 96, 3), np.uint8), ((4, 84, 84), np.float32)]:
        storage = UniformReplayBuffer(100, shape, dtype, storage="auto").storage
        assert isinstance(storage, TransitionStorage)
    # Code that builds a buffer itself keeps the flat storage unless it asks (configs say auto).
    assert isinstance(UniformReplayBuffer(100, (4, 84, 84), np.uint8).storage, TransitionStorage)
