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


def test_curves_draw_the_latest_finished_run_of_each_library_and_seed(tmp_path: Path) -> None:
    """A rerun of the bench into the same store replaces what it measured again; a crashed
    run is left out."""
    store = tmp_path / "store"
    store.mkdir()
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    experiment = client.create_experiment("bench-cartpole")
    for start, final, status, command in [
        (1_000, 100.0, "FINISHED", "first"),
        (2_000, 480.0, "FINISHED", "rerun"),
        (3_000, 5.0, "FAILED", "crashed"),
    ]:
        run = client.create_run(experiment, start_time=start).info.run_id
        client.log_param(run, "seed", 0)
        for key, value in [
            ("bench.library", "dqnlab"),
            ("bench.machine", "test CPU"),
            ("bench.threads", "1"),
            ("bench.command", command),
        ]:
            client.set_tag(run, key, value)
        for step, seconds, mean in [(2000, 1.0, 50.0), (4000, 2.0, final)]:
            client.log_metric(run, "eval/return_mean", mean, step=step)
            client.log_metric(run, "eval/seconds", seconds, step=step)
        client.set_terminated(run, status)

    figure = tmp_path / "curves.png"
    drawn = bench("plots.py", "curves", "--store", str(store), "--output", str(figure))
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    assert drawn.stdout.splitlines()[0] == (
        "cartpole dqnlab: to 475: s0 4000 steps 2.0 s; median 4000 steps, 2.0 s; final evals 480.0"
    )
    assert figure.stat().st_size > 10_000
