"""Replay for GPUs: rows kept in device memory and batches staged in page-locked memory give
the same rows, batches and checkpoints as the plain host storage."""

from pathlib import Path

import numpy as np
import pytest
import torch

from dqnlab.replay.buffer import PrioritizedReplayBuffer, ReplayBuffer, UniformReplayBuffer
from dqnlab.replay.device_storage import DeviceTransitionStorage
from dqnlab.replay.storage import rows_to_device
from tests.test_replay import add_numbered, assert_consistent, save_and_load

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible"),
        ],
    ),
]


def host_rows(buffer: ReplayBuffer, name: str) -> np.ndarray:
    field = getattr(buffer.storage, name)[: len(buffer)]
    return field.cpu().numpy() if isinstance(field, torch.Tensor) else field


def assert_same_batches(a: ReplayBuffer, b: ReplayBuffer, n: int = 3) -> None:
    """Both buffers draw the same rows and return the same values for them."""
    for _ in range(n):
        x, y = a.sample(64), b.sample(64)
        assert np.array_equal(x.indices, y.indices)
        for name in ("obs", "actions", "rewards", "next_obs", "terminated", "discounts"):
            assert torch.equal(getattr(x, name).cpu(), getattr(y, name).cpu()), name
        if x.weights is not None:
            assert torch.equal(x.weights.cpu(), y.weights.cpu())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", [UniformReplayBuffer, PrioritizedReplayBuffer])
def test_device_storage_matches_host_storage_through_wrap_around(
    device: str, kind: type[ReplayBuffer]
) -> None:
    host = kind(50, (1,), seed=3)
    on_device = kind(50, (1,), device=device, seed=3, storage="device")
    assert isinstance(on_device.storage, DeviceTransitionStorage)
    for start, count in [(0, 30), (30, 7), (37, 40)]:  # the last add wraps around
        add_numbered(host, start, count)
        add_numbered(on_device, start, count)
        assert (len(host), host.storage.pos) == (len(on_device), on_device.storage.pos)
        assert_same_batches(host, on_device)
    batch = on_device.sample(256)
    assert batch.obs.device.type == device and batch.actions.dtype == torch.int64
    on_host = {k: v.cpu() for k, v in batch._asdict().items() if isinstance(v, torch.Tensor)}
    ids = assert_consistent(batch._replace(**on_host))
    assert ids.min() >= 77 - 50  # the oldest 27 were overwritten


@pytest.mark.parametrize("device", DEVICES)
def test_device_storage_checkpoints_load_into_either_storage(device: str, tmp_path: Path) -> None:
    on_device = UniformReplayBuffer(40, (2,), device=device, seed=0, storage="device")
    n = np.arange(55, dtype=np.float32)
    rows = np.stack([n, -n], axis=1)
    on_device.add(rows, n.astype(np.int64), n, rows + 1, n % 2, n / 100)
    on_device.sample(8)
    state = save_and_load(on_device.state_dict(), tmp_path)
    host = UniformReplayBuffer(40, (2,), seed=5)
    host.load_state_dict(state)
    back = UniformReplayBuffer(40, (2,), device=device, seed=5, storage="device")
    back.load_state_dict(save_and_load(host.state_dict(), tmp_path))
    for name in on_device.storage.FIELDS:
        assert np.array_equal(host_rows(host, name), host_rows(on_device, name)), name
        assert np.array_equal(host_rows(back, name), host_rows(on_device, name)), name
    assert_same_batches(on_device, back)
    with pytest.raises(ValueError, match="buffer obs"):
        UniformReplayBuffer(40, (3,), device=device, storage="device").load_state_dict(state)


@pytest.mark.parametrize("device", DEVICES)
def test_staged_rows_equal_plainly_gathered_rows(device: str) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(30, 6, 5), dtype=np.uint8)
    flat = rng.random(30).astype(np.float32)
    stacks = rng.integers(0, 30, size=(16, 4))  # a 2-D index, as frame stacks use
    for array, idx in [(frames, stacks), (flat, stacks[:, 0])]:
        plain = rows_to_device(array, idx, torch.device(device))
        staged = rows_to_device(array, idx, torch.device(device), pinned=True)
        assert staged.device.type == device and staged.shape == plain.shape
        assert torch.equal(staged.cpu(), plain.cpu())
        assert np.array_equal(staged.cpu().numpy(), array[idx])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("storage", ["transitions", "frames"])
def test_pinned_batches_equal_plain_batches(device: str, storage: str) -> None:
    shape = (4, 6, 6) if storage == "frames" else (3,)
    dtype = np.uint8 if storage == "frames" else np.float32
    kwargs = {"obs_dtype": dtype, "device": device, "seed": 1, "storage": storage}
    plain = UniformReplayBuffer(64, shape, **kwargs)
    pinned = UniformReplayBuffer(64, shape, pin_memory=True, **kwargs)
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 255, size=(1, *shape)).astype(dtype)
    for _ in range(40):
        new = rng.integers(0, 255, size=(1, *shape)).astype(dtype)
        # Frame stacks shift by one frame, newest last.
        next_obs = np.concatenate([obs[:, 1:], new[:, :1]], axis=1) if storage == "frames" else new
        step = (np.array([0]), obs, np.array([1]), np.array([0.5]), next_obs)
        for buffer in (plain, pinned):
            buffer.add_steps(*step, np.array([False]), np.array([False]))
        obs = next_obs
    assert_same_batches(plain, pinned)
