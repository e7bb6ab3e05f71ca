"""A local MLflow store killed while being created leaves nothing half-built."""

import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

CREATE_STORE = """
import mlflow, sys
from dqnlab.tracking.store import ensure_tracking_store
mlflow.set_tracking_uri(sys.argv[1])
ensure_tracking_store()
"""


def test_a_store_killed_mid_creation_is_absent_and_the_next_command_builds_it(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    creating = subprocess.Popen([sys.executable, "-c", CREATE_STORE, uri])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        p.stat().st_size for p in tmp_path.glob(".mlflow.db.*.building")
    ):
        time.sleep(0.05)
    creating.kill()  # in the middle of MLflow's schema migrations
    creating.wait()
    assert not (tmp_path / "mlflow.db").exists()

    done = subprocess.run([sys.executable, "-c", CREATE_STORE, uri], timeout=120)

    assert done.returncode == 0
    assert [e.name for e in MlflowClient(uri).search_experiments()] == ["Default"]
