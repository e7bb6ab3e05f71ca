"""Secrets never reach MLflow: not from the environment, not from a database URL's password."""

import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import test_sweep_postgres
from mlflow.tracking import MlflowClient
from sweep_helpers import TrialBudget, run_sweep, sweep_env

from tests.conftest import short_run_overrides

TRAIN_PY = Path(__file__).resolve().parents[1] / "src" / "train.py"
SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "PGPASSWORD",
)
postgres_url = test_sweep_postgres.postgres_url  # the throwaway PostgreSQL server fixture
SWEEP = TrialBudget(total_steps=400, eval_every=200, log_every=100).overrides()


def mlflow_leaks(workdir: Path, secret: str) -> list[str]:
    """Where `secret` appears in the MLflow store in `workdir`: params, tags, artifacts."""
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs, "nothing was recorded"
    found = [
        f"run {run.info.run_name}: {kind} {key}"
        for run in runs
        for kind, fields in (("param", run.data.params), ("tag", run.data.tags))
        for key, value in fields.items()
        if secret in f"{key}={value}"
    ]
    found += [
        f"model version {v.name}/{v.version}: tags"
        for v in client.search_model_versions()
        if secret in str(v.tags)
    ]
    return found + file_leaks(workdir / "mlruns", secret)


def file_leaks(root: Path, secret: str) -> list[str]:
    """Files under `root` whose bytes contain `secret`."""
    return [
        f"file {path.relative_to(root.parent)}"
        for path in sorted(root.rglob("*"))
        if path.is_file() and secret.encode() in path.read_bytes()
    ]


def test_secrets_in_the_environment_are_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"leak-{secrets.token_hex(8)}"
    for name in SECRET_VARIABLES:
        monkeypatch.setenv(name, f"{secret}-{name}")
    train = subprocess.run(
        [sys.executable, str(TRAIN_PY), *short_run_overrides(1000)],
        cwd=tmp_path,
        env=sweep_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    sweep = run_sweep(tmp_path, "-m", *SWEEP, "sweep.n_trials=2", "sweep.workers=2")
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    # Every file the runs left: both databases, artifacts, checkpoints, Hydra's records.
    assert mlflow_leaks(tmp_path, secret) + file_leaks(tmp_path, secret) == []


def test_the_password_of_the_study_storage_is_not_recorded(
    tmp_path: Path, postgres_url: str
) -> None:
    secret = f"leak-{secrets.token_hex(8)}"
    # The test server trusts every local connection: any password is accepted.
    storage = postgres_url.replace("postgresql://dqn@", f"postgresql://dqn:{secret}@")
    done = run_sweep(tmp_path, *SWEEP, "sweep.n_trials=1", f"sweep.storage={storage}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert mlflow_leaks(tmp_path, secret) == []
