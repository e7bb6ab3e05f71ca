"""A benchmark stopped with SIGTERM stops its workers: their runs end recorded as killed and
no queued training starts after the stop."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from dqnlab.checkpointing.signals import EXIT_RESUMABLE

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_states(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as connection:
            return [row[0] for row in connection.execute("select status from runs")]
    except sqlite3.OperationalError:  # tables not created yet
        return []


def test_sigterm_stops_the_extensions_workers_and_their_runs(tmp_path: Path) -> None:
    db = tmp_path / "store" / "mlflow.db"
    bench = subprocess.Popen(
        [
            sys.executable, str(BENCH / "extensions.py"), "--variants", "vanilla", "dueling",
            "--seeds", "0", "1", "--steps", "100000", "--jobs", "2", "--store", "store",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while run_states(db).count("RUNNING") < 2:
            assert bench.poll() is None, bench.stdout.read() if bench.stdout else ""
            assert time.monotonic() < deadline, "the two trainings never started"
            time.sleep(0.5)
        bench.send_signal(signal.SIGTERM)
        output, _ = bench.communicate(timeout=120)
    finally:
        bench.kill()
    assert bench.returncode == EXIT_RESUMABLE, output[-2000:]
    assert "SIGTERM: workers are closing" in output
    assert run_states(db) == ["KILLED", "KILLED"]  # and none of the queued two started
