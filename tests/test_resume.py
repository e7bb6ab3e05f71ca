"""Resume: a run killed at any moment continues from its checkpoint as if never stopped."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import torch
from mlflow.tracking import MlflowClient

from dqnlab.checkpointing.signals import EXIT_RESUMABLE
from dqnlab.training.run import run

TRAIN_PY = Path(__file__).resolve().parents[1] / "src" / "train.py"
# Long enough (about 7 s here after the first checkpoint) that a stop signal sent up to 1.5 s
# after the first checkpoint lands in training, not in logging the outcome.
TOTAL_STEPS = 20000
SHORT_RUN = [
    f"trainer.total_steps={TOTAL_STEPS}",
    "trainer.checkpoint_every=1000",
    "trainer.eval_every=2000",
    "trainer.eval_episodes=3",
    "trainer.log_every=250",
    "trainer.torch_threads=1",
    "tracking.flush_every_s=0.2",
    "agent.learning_starts=500",
    "network.hidden_sizes=[32,32]",
]
WALL_CLOCK_METRICS = {"train/sps", "train/seconds"}  # differ between any two runs


def start(workdir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(TRAIN_PY), *SHORT_RUN, *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def train(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    process = start(workdir, *args)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def checkpoint_of(workdir: Path) -> Path | None:
    found = list((workdir / "checkpoints").glob("*/checkpoint.pt"))
    return found[0] if found else None


def stop_after_first_checkpoint(process: subprocess.Popen, workdir: Path, signum: int) -> None:
    """Send `signum` at a random moment after the first checkpoint exists."""
    deadline = time.monotonic() + 120
    while checkpoint_of(workdir) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(random.uniform(0.0, 1.5))
    process.send_signal(signum)
    process.communicate(timeout=120)


def only_run(workdir: Path) -> tuple[MlflowClient, object]:
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("dqn-cartpole")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # resumed in the same run, not a new one
    return client, runs[0]


def metric_histories(workdir: Path) -> dict[str, list[tuple[int, float]]]:
    client, run = only_run(workdir)
    return {
        key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
        for key in sorted(set(run.data.metrics) - WALL_CLOCK_METRICS)
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    workdir = tmp_path_factory.mktemp("uninterrupted")
    done = train(workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    return metric_histories(workdir)


def test_a_run_killed_at_a_random_moment_resumes_to_the_same_results(uninterrupted, tmp_path):
    stop_after_first_checkpoint(start(tmp_path), tmp_path, signal.SIGKILL)
    run_id = checkpoint_of(tmp_path).parent.name

    done = train(tmp_path, f"trainer.resume={run_id}")

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming run {run_id}" in done.stdout
    _, run = only_run(tmp_path)
    assert run.info.status == "FINISHED"
    assert torch.load(checkpoint_of(tmp_path), weights_only=True)["step"] == TOTAL_STEPS
    resumed = metric_histories(tmp_path)
    assert set(resumed) == set(uninterrupted)
    for key, points in uninterrupted.items():
        assert resumed[key] == points, key  # no gap, no duplicate, the same values


def test_sigterm_checkpoints_exits_resumable_and_auto_resume_finishes(uninterrupted, tmp_path):
    process = start(tmp_path)
    stop_after_first_checkpoint(process, tmp_path, signal.SIGTERM)

    assert process.returncode == EXIT_RESUMABLE
    _, run = only_run(tmp_path)
    assert run.info.status == "KILLED"
    assert run.data.tags["stopped_by"] == "SIGTERM"
    stopped_at = torch.load(checkpoint_of(tmp_path), weights_only=True)["step"]
    assert 1000 <= stopped_at < TOTAL_STEPS

    done = train(tmp_path, "trainer.resume=auto")

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"at step {stopped_at}" in done.stdout
    assert only_run(tmp_path)[1].info.status == "FINISHED"
    assert metric_histories(tmp_path) == uninterrupted


def test_a_run_that_died_while_logging_its_outcome_resumes_without_duplicate_points(
    compose_config, tracking_uri
):
    """Training is done and the summary metrics are sent, then the final checkpoint's upload
    fails (as a kill during the seconds of model logging would stop it): resuming from the
    final checkpoint finishes the run and records every point once."""
    overrides = [*SHORT_RUN, "trainer.total_steps=2000", "tracking.log_model=false"]
    with (
        mock.patch("dqnlab.training.run.mlflow.log_artifact", side_effect=OSError("no space left")),
        pytest.raises(OSError),
    ):
        run(compose_config(*overrides))
    client = MlflowClient()
    (failed,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    run_id = failed.info.run_id
    assert failed.info.status == "FAILED"
    assert "eval/best_return_mean" in failed.data.metrics

    run(compose_config(*overrides, f"trainer.resume={run_id}"))

    finished = client.get_run(run_id)
    assert finished.info.status == "FINISHED"
    for key in finished.data.metrics:
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        assert steps == sorted(set(steps)), key  # every step once, in order
    assert len(client.get_metric_history(run_id, "eval/best_return_mean")) == 1


def test_resume_refuses_to_change_the_config_or_reopen_a_finished_run(tmp_path):
    done = train(tmp_path, "trainer.total_steps=600")
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = checkpoint_of(tmp_path).parent.name

    finished = train(tmp_path, "trainer.total_steps=600", f"trainer.resume={run_id}")
    changed = train(tmp_path, "trainer.total_steps=600", "agent.lr=0.5", f"trainer.resume={run_id}")

    assert finished.returncode == 1
    assert f"run {run_id} already FINISHED" in finished.stderr
    assert changed.returncode == 1
    assert "agent.lr=0.5 differs from the resumed run's agent.lr" in changed.stderr
    assert only_run(tmp_path)[1].info.status == "FINISHED"


def test_auto_resume_without_an_unfinished_run_starts_a_new_one(tmp_path):
    done = train(tmp_path, "trainer.total_steps=600", "trainer.resume=auto")
    assert done.returncode == 0, done.stderr[-3000:]
    assert only_run(tmp_path)[1].info.status == "FINISHED"
