"""Train one DQN: python src/train.py [env=lunarlander] [agent.lr=3e-4] ..."""

import hydra
from omegaconf import DictConfig

from dqnlab.checkpointing.signals import exit_resumable
from dqnlab.config.checks import check_config
from dqnlab.config.cli import preflight, report_config_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Train and return the best greedy eval return (what a sweeper maximises).

    SIGTERM (a scheduler's preemption) writes a checkpoint and exits with EXIT_RESUMABLE.
    """
    # Loaded after preflight (dqnlab.config.cli).
    from dqnlab.training.run import run

    return exit_resumable(lambda: report_config_errors(lambda: run(cfg).best_eval))


if __name__ == "__main__":
    preflight("config", check=check_config)
    main()
