"""Helpers shared by the benchmark scripts."""

import contextlib
import logging
import statistics
import tempfile
from collections.abc import Sequence

import mlflow
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from dqnlab.cli import CONF_DIR
from dqnlab.loop import TrainResult
from dqnlab.run import run


def compose_config(overrides: Sequence[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def run_ours(overrides: Sequence[str]) -> TrainResult:
    """One training run tracked in a throwaway MLflow store (benchmarks keep no runs).

    It runs inside the temp dir: MLflow puts a new experiment's artifacts under ./mlruns.
    """
    logging.getLogger("dqnlab").setLevel(logging.WARNING)
    cfg = compose_config([*overrides, "tracking.log_model=false"])
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        try:
            return run(cfg)
        finally:
            mlflow.set_tracking_uri(None)


def first_reach(points: Sequence[tuple[int, float, float]], threshold: float) -> tuple[int, float]:
    """(env step, seconds) of the first evaluation at or above `threshold`; inf if never."""
    for step, seconds, mean in points:
        if mean >= threshold:
            return step, seconds
    return -1, float("inf")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
