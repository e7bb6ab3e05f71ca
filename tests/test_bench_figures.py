"""The docs' extensions figure is redrawn from kept runs: bench/extensions.py keeps them with
what the figure needs, and bench/plots.py draws it or says what is missing."""

import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench(script: str, *args: str, cwd: Path = BENCH) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_extension_runs_are_kept_and_drawn(tmp_path: Path) -> None:
    store = tmp_path / "store"
    variants = ["vanilla", "dueling"]
    # A store relative to the working dir, as the docs' commands give it.
    ran = bench(
        "extensions.py", "--variants", *variants, "--seeds", "0", "--steps", "5000",
        "--jobs", "2", "--store", "store", cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    experiment = client.get_experiment_by_name("bench-extensions-zoo")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["bench.variant"] for r in runs) == sorted(variants)
    for run in runs:
        assert run.info.status == "FINISHED"
        assert "extensions.py" in run.data.tags["bench.command"]
        assert run.data.tags["bench.threads"] == "1"
        assert run.data.params["agent.double_q"] == "False"
        dueling = run.data.tags["bench.variant"] == "dueling"
        assert run.data.params["network.dueling"] == str(dueling)
        for key in ("eval/return_mean", "eval/seconds"):
            assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [5000]

    figure = tmp_path / "extensions.png"
    drawn = bench("plots.py", "extensions", "--store", str(store), "--output", str(figure))
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    assert figure.stat().st_size > 10_000
    assert [line.split(":")[0] for line in drawn.stdout.splitlines()[:2]] == [
        "bench-extensions-zoo vanilla",
        "bench-extensions-zoo dueling",
    ]


def test_a_store_without_the_runs_is_refused_in_one_line(tmp_path: Path) -> None:
    missing = bench("plots.py", "extensions", "--store", str(tmp_path / "none"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"no MLflow store {tmp_path}/none/mlflow.db: give --store the benchmark's folder"
    )
    assert not (tmp_path / "none").exists()


def test_a_missing_study_file_is_refused_without_creating_it(tmp_path: Path) -> None:
    storage = tmp_path / "sweeps.db"
    missing = bench(
        "plots.py", "sweep", "--storage", f"sqlite:///{storage}", "--study", "dqn-cartpole",
        "--store", str(tmp_path),
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"no study storage {storage}: give --storage the sweep's file"
    )
    assert not storage.exists()
