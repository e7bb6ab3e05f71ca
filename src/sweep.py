"""Tune DQN with Optuna: python src/sweep.py -m [sweep=cartpole] [training overrides …]"""

import sys

import hydra
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from dqnlab.checkpointing.signals import exit_resumable, workers_handle_stop_signals
from dqnlab.config.cli import CONF_DIR, preflight, report_config_errors
from dqnlab.sweep.definitions import register_sweep_definitions
from dqnlab.sweep.launchers import check_launcher, with_launcher_defaults

register_sweep_definitions()


@hydra.main(version_base="1.3", config_path="../conf", config_name="sweep")
def main(cfg: DictConfig) -> float | None:
    """One sweep worker; returns the study's best value when it leaves.

    A worker stopped by SIGTERM re-queues its trial, to resume from the trial's checkpoint.
    """
    # Loaded after preflight (dqnlab.config.cli), as in prepare.
    from dqnlab.sweep.worker import run_worker

    return exit_resumable(lambda: report_config_errors(lambda: run_worker(cfg)))


def prepare(argv: list[str]) -> None:
    """Check the sweep and its launcher, then create its stores, study and parent run once,
    before any worker."""
    # Loaded after preflight (dqnlab.config.cli); the sweep is checked before torch and MLflow load.
    from dqnlab.sweep.checks import check_sweep

    report_config_errors(lambda: check_launcher(argv))
    overrides = [a for a in argv if not a.startswith("-") and not a.startswith("hydra")]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("sweep", overrides=overrides)
        report_config_errors(lambda: check_sweep(cfg, overrides))
        from dqnlab.sweep.worker import open_sweep  # torch and MLflow: a valid sweep only

        report_config_errors(lambda: open_sweep(cfg, overrides, worker=0, workers=1))


if __name__ == "__main__":
    sys.argv[1:] = with_launcher_defaults(sys.argv[1:])  # what Hydra's main then reads
    argv = [a for a in sys.argv[1:] if a not in ("-m", "--multirun")]
    preflight("sweep", argv)
    prepare(argv)
    if len(argv) < len(sys.argv) - 1:  # -m: this process launches the workers
        with workers_handle_stop_signals() as stop:
            main()
        if stop.exit_status() is not None:
            sys.exit(stop.exit_status())
    else:
        main()
