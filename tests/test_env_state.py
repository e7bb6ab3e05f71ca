"""Saving and restoring env and RNG state through a weights_only checkpoint file."""

import random
from collections import deque
from pathlib import Path

import numpy as np
import pytest
import torch

from dqnlab.checkpointing.env_state import capture_env_state, restore_env_state
from dqnlab.checkpointing.files import load_checkpoint, save_checkpoint
from dqnlab.checkpointing.state_codec import decode, encode
from dqnlab.envs.factory import make_vector_env
from dqnlab.training.seeding import restore_rng_states, rng_states, seed_everything


def through_file(state: object, tmp_path: Path) -> object:
    save_checkpoint({"state": state}, tmp_path / "state.pt")
    return load_checkpoint(tmp_path / "state.pt")["state"]


def test_numpy_values_survive_a_weights_only_file(tmp_path):
    value = {
        "array": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "flags": np.array([True, False]),
        "scalar": np.float64(0.25),
        "queue": deque([1.0, 2.0], maxlen=3),
        "nested": [(1, None, "x"), {"generator": np.random.default_rng(7)}],
    }
    back = decode(through_file(encode(value), tmp_path))
    assert back["array"].dtype == np.uint8 and np.array_equal(back["array"], value["array"])
    assert back["flags"].dtype == bool and back["scalar"].dtype == np.float64
    assert back["queue"] == value["queue"] and back["queue"].maxlen == 3
    assert back["nested"][0] == (1, None, "x")
    assert back["nested"][1]["generator"].random() == np.random.default_rng(7).random()


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1"])
def test_a_restored_env_continues_exactly_like_the_original(env_id, tmp_path):
    original = make_vector_env(env_id, 2)
    original.reset(seed=3)
    actions = np.random.default_rng(0).integers(0, 2, size=(700, 2))
    for action in actions[:150]:
        original.step(action)
    state = through_file(capture_env_state(original), tmp_path)

    restored = make_vector_env(env_id, 2)  # built fresh, never reset, as a resumed run does
    assert restore_env_state(restored, state)
    for action in actions[150:]:  # past episode ends: the env's own generator resets them
        a, b = original.step(action), restored.step(action)
        for x, y in zip(a[:4], b[:4], strict=True):
            assert np.array_equal(x, y)
        assert np.array_equal(a[4].get("_episode", []), b[4].get("_episode", []))


def test_an_env_with_opaque_state_is_reported_unsaveable():
    envs = make_vector_env("LunarLander-v3", 1)  # a Box2D world
    envs.reset(seed=0)
    assert capture_env_state(envs) is None


def test_state_of_another_env_is_refused(tmp_path):
    cartpole = make_vector_env("CartPole-v1", 1)
    cartpole.reset(seed=0)
    assert not restore_env_state(make_vector_env("Acrobot-v1", 1), capture_env_state(cartpole))
    assert not restore_env_state(make_vector_env("CartPole-v1", 2), capture_env_state(cartpole))


def test_rng_states_put_every_generator_back(tmp_path):
    rng = seed_everything(5)
    rng.random()
    states = through_file(rng_states(rng), tmp_path)
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), rng.random())

    seed_everything(99)
    restored = restore_rng_states(states)

    assert (random.random(), np.random.rand(), torch.rand(1).item(), restored.random()) == expected
