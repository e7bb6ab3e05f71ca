"""Running `src/sweep.py` as a user would, on tiny CartPole budgets."""

import itertools
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import optuna
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

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


def run_sweep(
    workdir: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the sweep command in `workdir` (with `env` added); stdout and stderr captured."""
    return subprocess.run(
        [sys.executable, str(SWEEP_PY), *args],
        cwd=workdir,
        env=sweep_env(workdir) | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load_study(
    workdir: Path, name: str = "dqn-cartpole", storage: str | None = None
) -> optuna.Study:
    """The study of a sweep run in `workdir` (its optuna.db unless `storage` says else)."""
    storage = storage or f"sqlite:///{workdir / 'optuna.db'}"
    return optuna.load_study(
        study_name=name, storage=storage.replace("postgresql://", "postgresql+psycopg://")
    )


LOCK_ERROR = "database is locked"
TRAIN_FREQ = 4  # env steps between updates in a TrialBudget
TRAIN_KEYS = ("loss", "q_mean", "grad_norm", "sps", "lr", "epsilon")
EVAL_KEYS = ("return_mean", "return_std", "q_initial")


@dataclass(frozen=True)
class TrialBudget:
    """Each trial's training budget, chosen so the points each run logs follow from it.

    Learning starts at the first log step and updates every TRAIN_FREQ env steps, so every
    log step has a loss; evaluations and logs fall on multiples of their periods; no pruning.
    """

    total_steps: int
    eval_every: int
    log_every: int
    eval_episodes: int = 2

    def __post_init__(self) -> None:
        if self.total_steps % self.eval_every or self.total_steps % self.log_every:
            raise ValueError("total_steps must be a multiple of eval_every and log_every")
        if self.log_every % TRAIN_FREQ:
            raise ValueError(f"log_every must be a multiple of {TRAIN_FREQ}: learning starts then")

    def overrides(self) -> list[str]:
        return [
            "sweep=cartpole",
            "pruner=none",
            f"trainer.total_steps={self.total_steps}",
            f"trainer.eval_every={self.eval_every}",
            f"trainer.eval_episodes={self.eval_episodes}",
            f"trainer.log_every={self.log_every}",
            f"trainer.checkpoint_every={self.total_steps}",
            f"agent.learning_starts={self.log_every}",
            f"agent.train_freq={TRAIN_FREQ}",
            "agent.gradient_steps=1",
            "agent.batch_size=32",
            "network.hidden_sizes=[32,32]",
        ]

    def expected_points(self) -> dict[str, int]:
        """Points per metric key of a finished run (episode metrics depend on the episodes)."""
        evals, logs = self.total_steps // self.eval_every, self.total_steps // self.log_every
        return (
            {f"eval/{key}": evals for key in EVAL_KEYS}
            | {f"train/{key}": logs for key in TRAIN_KEYS}
            | {"eval/best_return_mean": 1, "train/seconds": 1}
        )


def audit_sweep(
    workdir: Path,
    n_trials: int,
    workers: int,
    budget: TrialBudget,
    study_name: str = "dqn-cartpole",
    storage: str | None = None,
    tracking_uri: str | None = None,
) -> list[str]:
    """What a finished sweep in `workdir` got wrong; empty when every trial ran exactly once.

    Checked: the budget (at most workers - 1 trials over it), every trial COMPLETE, one
    FINISHED MLflow child run per trial and no other run in the study's experiment, and
    each run's metric points. The stores default to the files in `workdir`.
    """
    study = load_study(workdir, study_name, storage)
    numbers = [t.number for t in study.trials]
    problems = []
    if not n_trials <= len(numbers) <= n_trials + workers - 1:
        problems.append(f"{len(numbers)} trials for a budget of {n_trials}")
    complete = optuna.trial.TrialState.COMPLETE
    problems += [f"trial {t.number} is {t.state.name}" for t in study.trials if t.state != complete]

    client = MlflowClient(tracking_uri or f"sqlite:///{workdir / 'mlflow.db'}")
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    runs = client.search_runs([client.get_run(parent_id).info.experiment_id])
    children = [r for r in runs if r.info.run_id != parent_id]
    parent_status = client.get_run(parent_id).info.status
    if parent_status != "FINISHED":
        problems.append(f"the study run is {parent_status}")
    recorded = sorted(int(r.data.tags.get("optuna.trial", -1)) for r in children)
    if recorded != numbers:
        problems.append(f"MLflow runs per trial {Counter(recorded)} != trials {numbers}")
    run_ids = {t.user_attrs.get("mlflow_run_id.0") for t in study.trials}
    for run in children:
        if run.data.tags.get("mlflow.parentRunId") != parent_id or run.info.run_id not in run_ids:
            problems.append(f"run {run.info.run_id} is not a trial's run of this study")
        if run.info.status != "FINISHED":
            problems.append(f"run {run.info.run_id} is {run.info.status}")
        problems += metric_problems(client, run, budget)
    return problems


def metric_problems(client: MlflowClient, run: Run, budget: TrialBudget) -> list[str]:
    """Points missing or repeated in one run's metric histories."""
    run_id = run.info.run_id
    histories = {key: client.get_metric_history(run_id, key) for key in run.data.metrics}
    problems = [
        f"run {run_id}: {key} has {len(histories.get(key, []))} points, expected {count}"
        for key, count in budget.expected_points().items()
        if len(histories.get(key, [])) != count
    ]
    problems += [
        f"run {run_id}: {key} has two points at one step"
        for key, points in histories.items()
        if len({p.step for p in points}) != len(points)
    ]
    # One env: each episode ends at the sum of the lengths of the episodes so far.
    lengths = sorted(histories.get("train/episode_length", []), key=lambda p: p.step)
    ends = list(itertools.accumulate(int(p.value) for p in lengths))
    returns = histories.get("train/episode_return", [])
    if not lengths or [p.step for p in lengths] != ends or len(returns) != len(lengths):
        problems.append(f"run {run_id}: episode points do not add up to the steps trained")
    return problems
