"""Evaluate and watch a trained model: python src/evaluate.py model=<reference> [episodes=20] …"""

import os

import hydra
from omegaconf import DictConfig

from dqnlab.config.checks import check_evaluate_config
from dqnlab.config.cli import preflight, report_config_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Evaluate, print the table, log the evaluation run."""
    # Loaded after preflight (dqnlab.config.cli).
    from dqnlab.evaluation.command import evaluate

    report_config_errors(lambda: evaluate(cfg))


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep the table clean
    preflight("evaluate", check=check_evaluate_config)
    main()
