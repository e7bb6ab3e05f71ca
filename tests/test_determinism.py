"""Same seed and config on CPU: the same run, bit for bit."""

import pytest
import torch

from dqnlab.checkpointing.files import load_checkpoint
from dqnlab.training.run import run
from tests.conftest import short_run_overrides

EVERY_EXTENSION = ["agent=rainbow_lite", "network.noisy=true", "exploration=boltzmann"]


@pytest.mark.parametrize("extensions", [[], EVERY_EXTENSION], ids=["dqn", "extensions"])
def test_same_seed_gives_identical_runs(
    compose_config, tracking_uri: str, tmp_path, extensions: list[str]
) -> None:
    """Prioritized sampling, noisy layers and Boltzmann draws are seeded too."""
    overrides = [
        *short_run_overrides(3000),
        *extensions,
        "seed=7",
        "tracking.log_model=false",
        "device=cpu",
    ]
    first = run(compose_config(*overrides, "trainer.checkpoint_dir=a"))
    second = run(compose_config(*overrides, "trainer.checkpoint_dir=b"))
    assert first.episode_returns == second.episode_returns
    assert [(e.step, e.mean, e.std) for e in first.evals] == [
        (e.step, e.mean, e.std) for e in second.evals
    ]
    (a,) = (tmp_path / "a").glob("*/checkpoint.pt")
    (b,) = (tmp_path / "b").glob("*/checkpoint.pt")
    weights_a, weights_b = load_checkpoint(a)["q_net"], load_checkpoint(b)["q_net"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_different_seeds_give_different_runs(compose_config, tracking_uri: str) -> None:
    overrides = [*short_run_overrides(1500), "tracking.log_model=false", "device=cpu"]
    assert (
        run(compose_config(*overrides, "seed=1")).episode_returns
        != run(compose_config(*overrides, "seed=2")).episode_returns
    )


GPU_PATHS = ["agent.update_mode=graph", "buffer.storage=device", "buffer.pin_memory=true"]


@pytest.mark.parametrize("buffer", ["uniform", "prioritized"])
def test_gpu_update_and_replay_paths_give_the_eager_run(
    compose_config, tracking_uri: str, buffer: str
) -> None:
    """The GPU-oriented options change where tensors live and how an update is launched,
    never what is learned: on CPU the run is the default run, bit for bit."""
    overrides = [
        *short_run_overrides(2500),
        f"buffer={buffer}",
        "seed=3",
        "tracking.log_model=false",
        "device=cpu",
    ]
    eager = run(compose_config(*overrides))
    gpu_ready = run(compose_config(*overrides, *GPU_PATHS))
    assert gpu_ready.episode_returns == eager.episode_returns
    assert [(e.step, e.mean) for e in gpu_ready.evals] == [(e.step, e.mean) for e in eager.evals]
    assert all(torch.equal(gpu_ready.best_state[k], eager.best_state[k]) for k in eager.best_state)
