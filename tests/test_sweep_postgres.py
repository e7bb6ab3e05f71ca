"""Workers on separate processes (as on separate machines) share a study on PostgreSQL."""

import subprocess
import sys
import time
from collections.abc import Iterator

import optuna
import pytest
from optuna.trial import TrialState
from servers import postgres_cluster
from sweep_helpers import SWEEP_PY, TINY_CARTPOLE, sweep_env


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback with an empty `optuna` database."""
    with postgres_cluster() as postgres:
        yield postgres.create_database("optuna")


def test_two_worker_processes_share_a_study_on_postgres(tmp_path, postgres_url):
    command = [
        sys.executable,
        str(SWEEP_PY),
        *TINY_CARTPOLE,
        "sweep.n_trials=4",
        f"sweep.storage={postgres_url}",
        "trainer.torch_threads=1",  # two workers share this machine
    ]
    storage = postgres_url.replace("postgresql://", "postgresql+psycopg://")

    def study_running() -> bool:
        try:
            study = optuna.load_study(study_name="dqn-cartpole", storage=storage)
        except KeyError:
            return False
        return bool(study.get_trials(states=(TrialState.RUNNING,)))

    first = subprocess.Popen(command, cwd=tmp_path, env=sweep_env(tmp_path))
    try:
        deadline = time.monotonic() + 120
        while not study_running() and time.monotonic() < deadline:
            time.sleep(0.5)
        # A second worker joins the running study, as one started on another machine would.
        second = subprocess.run(command, cwd=tmp_path, env=sweep_env(tmp_path), timeout=300)
        assert first.wait(timeout=300) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 0
    study = optuna.load_study(study_name="dqn-cartpole", storage=storage)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert 4 <= len(finished) <= 5
    assert all(t.state != TrialState.RUNNING for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2  # both workers ran trials
    assert not (tmp_path / "optuna.db").exists()  # nothing went to the default SQLite file
