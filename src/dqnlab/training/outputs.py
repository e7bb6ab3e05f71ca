"""Plain files a pipeline tool (DVC) tracks: the best model, summary metrics, the eval curve."""

import csv
import json
from pathlib import Path

from dqnlab.checkpointing.files import save_checkpoint
from dqnlab.training.loop import TrainResult

MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"
EVAL_CURVE_FILE = "eval_curve.csv"


def write_outputs(directory: Path, result: TrainResult, config_yaml: str, run_id: str) -> None:
    """Write `model.pt` (best weights + config), `metrics.json` and `eval_curve.csv`.

    `model.pt` has the layout of a training checkpoint (`q_net`, `config`, `run_id`), so
    everything that loads a checkpoint loads it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if result.best_state is not None:
        save_checkpoint(
            {"q_net": result.best_state, "config": config_yaml, "run_id": run_id},
            directory / MODEL_FILE,
        )
    metrics = {
        "eval_return_best": result.best_eval,
        "eval_return_final": result.final_eval,
        "env_steps": result.steps,
        "train_seconds": round(result.seconds, 1),
    }
    if result.test_return is not None:  # DVC drops null metrics: leave an untested one out
        metrics["test_return"] = result.test_return
    (directory / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    with (directory / EVAL_CURVE_FILE).open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["step", "return_mean", "return_std"])
        writer.writerows((e.step, round(e.mean, 3), round(e.std, 3)) for e in result.evals)
