"""Running `src/sweep.py` as a user would, on tiny CartPole budgets."""

import os
import subprocess
import sys
from pathlib import Path

import optuna

SWEEP_PY = Path(__file__).resolve().parents[1] / "src" / "sweep.py"

TINY_CARTPOLE = [
    "sweep=cartpole",
    "trainer.total_steps=1500",
    "trainer.eval_every=500",
    "trainer.eval_episodes=3",
    "trainer.log_every=250",
    "trainer.checkpoint_every=1500",
    "agent.learning_starts=200",
    "agent.batch_size=32",
    "network.hidden_sizes=[32,32]",
    "sweep.heartbeat_interval=2",
    "sweep.grace_period=6",
]


def sweep_env(workdir: Path) -> dict[str, str]:
    env = os.environ.copy()
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    return env


def run_sweep(workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the sweep command in `workdir`; stdout and stderr captured."""
    return subprocess.run(
        [sys.executable, str(SWEEP_PY), *args],
        cwd=workdir,
        env=sweep_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load_study(workdir: Path, name: str = "dqn-cartpole") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{workdir / 'optuna.db'}")
