"""The GPU check runs on a CPU at tiny sizes, so it is ready the day a GPU is lent."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


def gpu_check(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
            "--device",
            "cpu",
            "--tiny",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (out / "gpu_check.md").read_text().startswith("# GPU check")
    return json.loads((out / "gpu_check.json").read_text())


@pytest.mark.slow
def test_every_part_runs_and_records_its_results(tmp_path: Path) -> None:
    parts = gpu_check(tmp_path)["parts"]
    correctness = parts["correctness"]
    assert correctness["cuda_tests"]["rc"] == 0 and correctness["cuda_tests"]["skipped"] > 0
    assert correctness["train_to_solved"]["status"] == "FINISHED"
    assert correctness["train_to_solved"]["passed"]
    assert correctness["evaluate_model"]["rc"] == 0
    assert correctness["evaluate_model"]["return_mean"] > 0
    assert correctness["shared_sweep"]["trials"] == ["COMPLETE", "COMPLETE"]
    modes = {name.split()[2] for name in parts["learner"]}
    assert modes == {"eager", "graph"}  # compile is left out at tiny sizes
    assert all(r["us_per_update"] > 0 for r in parts["learner"].values())
    throughput = parts["throughput"]
    assert {"cartpole cpu", "pong 1 envs cpu", "pong 2 envs cpu"} <= throughput.keys()
    assert all(r["steps_per_s"] > 0 for r in throughput.values() if "steps_per_s" in r)
    assert throughput["atari replay host memory, 10000 transitions"]["gib"] > 0
    pong = parts["pong"]["learning"]
    assert pong["status"] == "FINISHED" and pong["evals"] and pong["env_steps"] == 300


def test_a_check_out_of_time_still_writes_what_it_has(tmp_path: Path) -> None:
    parts = gpu_check(tmp_path, "--budget-s", "0", "--parts", "learner", "pong")["parts"]
    assert parts["learner"] and all(
        r == {"skipped": "part's time cap"} for r in parts["learner"].values()
    )
    assert "skipped" in parts["pong"]["learning"]
    assert set(parts["timing"]) == {"learner", "pong"}
