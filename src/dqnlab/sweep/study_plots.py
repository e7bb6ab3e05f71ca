"""Optuna's study plots and a CSV of every trial, written to a folder for MLflow."""

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import optuna
from optuna.visualization import matplotlib as optuna_plots

import dqnlab.training.plots  # noqa: F401  (selects the headless backend)

log = logging.getLogger(__name__)
logging.getLogger("matplotlib.category").setLevel(logging.WARNING)  # one line per string axis

PLOTS: dict[str, Callable[[optuna.Study], Any]] = {
    "optimization_history": optuna_plots.plot_optimization_history,
    "param_importances": optuna_plots.plot_param_importances,
    "parallel_coordinate": optuna_plots.plot_parallel_coordinate,
    "slice": optuna_plots.plot_slice,
    "intermediate_values": optuna_plots.plot_intermediate_values,
}


def write_study_report(study: optuna.Study, folder: Path) -> list[Path]:
    """trials.csv plus one PNG per plot that the study's trials allow; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "trials.csv"]
    study.trials_dataframe().to_csv(written[0], index=False)
    for name, plot in PLOTS.items():
        path = folder / f"{name}.png"
        try:
            with warnings.catch_warnings():  # experimental API, degenerate axes of few trials
                warnings.simplefilter("ignore")
                axes = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            log.info("study plot %s skipped: %s", name, exc)
            continue
        figure = np.asarray(axes).flat[0].figure
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written
