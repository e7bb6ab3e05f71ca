"""Shared fixtures: composed configs and a throwaway MLflow store per test."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

# pytest-xdist runs tests side by side, one per core: one torch thread per test process,
# and per process it starts, keeps them from oversubscribing the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import mlflow
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from dqnlab.config.cli import CONF_DIR

ComposeFn = Callable[..., DictConfig]


@pytest.fixture
def compose_config() -> Iterator[ComposeFn]:
    """Compose conf/config.yaml with overrides, clearing Hydra's global state around it."""

    def _compose(*overrides: str) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=list(overrides))

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite MLflow store in a temp dir that is also the working directory."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    if mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def short_run_overrides(steps: int = 2000) -> list[str]:
    """A CartPole run that learns a little and exercises every phase of the loop."""
    return [
        f"trainer.total_steps={steps}",
        "trainer.eval_every=1000",
        "trainer.eval_episodes=3",
        "trainer.log_every=250",
        "trainer.checkpoint_every=1000",
        "agent.learning_starts=200",
        "agent.batch_size=32",
        "agent.train_freq=4",
        "agent.gradient_steps=1",
        "agent.target_sync_period=100",
        "exploration.decay_steps=1000",
        "network.hidden_sizes=[32,32]",
        "trainer.torch_threads=1",
    ]
