"""Workers on separate processes (as on separate machines) share a study on PostgreSQL."""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import psycopg
import pytest
from optuna.trial import TrialState
from sweep_helpers import SWEEP_PY, TINY_CARTPOLE, sweep_env


def _server_bin_dir() -> Path | None:
    found = shutil.which("initdb")
    candidates = [found] if found else sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback, removed afterwards."""
    bin_dir = _server_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are not installed (.ci/run installs them)")
    root = Path(tempfile.mkdtemp(prefix="dqnlab-pg-"))
    # The server refuses to run as root: run it as the postgres user then.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()

    def pg(program: str, *args: str) -> None:
        command = [*as_user, str(bin_dir / program), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    try:
        pg("initdb", "-D", str(data), "-U", "dqn", "--auth=trust")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
        pg("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        with psycopg.connect(f"postgresql://dqn@127.0.0.1:{port}/postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE optuna")
        yield f"postgresql://dqn@127.0.0.1:{port}/optuna"
    finally:
        if (data / "postmaster.pid").exists():
            pg("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


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
