"""Runs and checkpoints recorded before dqnlab had subpackages still resume, evaluate and load.

tests/fixtures/store-before-subpackages was made by the code of that time (commit b53976f):
a finished CartPole run with its best model, and a run stopped by SIGTERM at env step 2,304
of 8,000. Their configs name the old class paths (dqnlab.networks.MLPQNetwork, …).
"""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/fixtures/store-before-subpackages"
RECORDED_AT = "/tmp/dqnlab-fixture-store"  # where the store was made: its paths point there
FINISHED_RUN = "9e924c3a801f4cfc81ea0c80118cfab4"
STOPPED_RUN = "70873b32ff184766a4e269a97ffc1f47"


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    """A copy of the recorded store whose stored paths point at the copy."""
    store = tmp_path / "store"
    shutil.copytree(FIXTURE, store)
    with sqlite3.connect(store / "mlflow.db") as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for column in db.execute(f"PRAGMA table_info('{table}')").fetchall():
                if column[2].upper().startswith(("VARCHAR", "TEXT")):
                    db.execute(
                        f'UPDATE "{table}" SET "{column[1]}" = REPLACE("{column[1]}", ?, ?)',
                        (RECORDED_AT, str(store)),
                    )
    return store


def run_script(store: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    """The store is the working directory's default one, as the fixture's runs recorded it."""
    env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / script), *args],
        cwd=store,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_old_checkpoint_names_the_old_class_paths(old_store: Path) -> None:
    """The fixture is what it claims: a config with the class paths of before the move."""
    checkpoint = torch.load(
        old_store / f"checkpoints/{STOPPED_RUN}/checkpoint.pt", weights_only=True
    )
    assert "_target_: dqnlab.networks.MLPQNetwork" in checkpoint["config"]
    assert checkpoint["step"] == 2304


@pytest.mark.parametrize(
    "model",
    [FINISHED_RUN, f"runs:/{FINISHED_RUN}/best_model", f"checkpoints/{FINISHED_RUN}/checkpoint.pt"],
)
def test_old_run_and_checkpoint_evaluate(old_store: Path, model: str) -> None:
    done = run_script(old_store, "evaluate.py", f"model={model}", "episodes=2", "device=cpu")
    assert done.returncode == 0, done.stderr
    assert "return" in done.stdout


def test_old_stopped_run_resumes_to_its_end(old_store: Path) -> None:
    done = run_script(old_store, "train.py", f"trainer.resume={STOPPED_RUN}", "device=cpu")
    assert done.returncode == 0, done.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{old_store / 'mlflow.db'}")
    run = client.get_run(STOPPED_RUN)
    assert run.info.status == "FINISHED"
    steps = [p.step for p in client.get_metric_history(STOPPED_RUN, "eval/return_mean")]
    assert steps == list(range(1000, 8001, 1000))  # each evaluation recorded once, to the end
    assert run.data.params["network._target_"] == "dqnlab.networks.MLPQNetwork"  # as recorded
