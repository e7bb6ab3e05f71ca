"""The sweep flow end to end: workers, Optuna study, MLflow parent/child runs, champion."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import mlflow
import optuna
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from sweep_helpers import SWEEP_PY, TINY_CARTPOLE, load_study, run_sweep, sweep_env

from dqnlab.checkpointing.signals import EXIT_RESUMABLE
from dqnlab.sweep.parent_run import StudyRecorder

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def client_for(workdir: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")


def child_runs(client: MlflowClient, parent_id: str) -> list:
    parent = client.get_run(parent_id)
    return client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )


def test_the_parent_run_shows_the_newest_best_when_trials_finish_out_of_order(
    tracking_uri: str,
) -> None:
    """Two workers: trial 1 ends before trial 0, which beats it; the parent must show 0's."""
    client = MlflowClient()
    parent = client.create_run(client.create_experiment("study")).info.run_id
    record = StudyRecorder(parent)
    study = optuna.create_study(direction="maximize")
    first, second = study.ask(), study.ask()
    record(study, study.tell(second, 10.0))
    record(study, study.tell(first, 50.0))
    metrics = client.get_run(parent).data.metrics
    assert metrics["best_value"] == 50.0
    assert metrics["trials/complete"] == 2
    assert [m.step for m in client.get_metric_history(parent, "trial/value")] == [1, 0]


def test_two_workers_fill_one_study_and_record_it_in_mlflow(tmp_path):
    done = run_sweep(tmp_path, "-m", *TINY_CARTPOLE, "sweep.n_trials=4", "sweep.workers=2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    study = load_study(tmp_path)
    finished = [t for t in study.trials if t.state in FINISHED]
    assert 4 <= len(finished) <= 5  # the budget, give or take one racing worker
    assert all(t.state in FINISHED for t in study.trials)
    assert {t.params["agent.lr"] for t in finished}.__len__() == len(finished)

    client = client_for(tmp_path)
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["n_trials"] == "4"
    assert "space.agent.lr" in parent.data.params
    assert "TPESampler" in parent.data.params["sampler"]
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.data.tags["best.trial"] == str(study.best_trial.number)
    artifacts = {a.path for a in client.list_artifacts(parent_id, "study")}
    assert {"study/trials.csv", "study/optimization_history.png"} <= artifacts

    children = child_runs(client, parent_id)
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == [
        t.number for t in study.trials
    ]
    by_trial = {int(r.data.tags["optuna.trial"]): r for r in children}
    for trial in study.trials:
        run = by_trial[trial.number]
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.state"] == trial.state.name
        assert float(run.data.params["agent.lr"]) == pytest.approx(trial.params["agent.lr"])
        assert run.data.params["trainer.torch_threads"] == str(max(1, os.cpu_count() // 2))
        # sweep.objective=test: a trial scores its best model's return on the test episodes.
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["test/return_mean"] == pytest.approx(trial.value)
        else:
            assert "test/return_mean" not in run.data.metrics

    # The champion is the best model of the completed trials, and it loads and acts.
    champion = client.get_model_version_by_alias("dqn-cartpole", "champion")
    best_model_return = max(
        t.user_attrs["model_eval_return"] for t in study.trials if t.state == TrialState.COMPLETE
    )
    assert float(champion.tags["eval_return"]) == pytest.approx(best_model_return)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        model = mlflow.pytorch.load_model("models:/dqn-cartpole@champion")
    finally:
        mlflow.set_tracking_uri(None)
    assert model(torch.zeros(3, 4)).shape == (3, 2)

    # Re-running the command resumes the study: the budget is spent, nothing new runs.
    again = run_sweep(tmp_path, *TINY_CARTPOLE, "sweep.n_trials=4")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(load_study(tmp_path).trials) == len(study.trials)
    # A larger budget continues the same study and the same parent run.
    more = run_sweep(tmp_path, *TINY_CARTPOLE, f"sweep.n_trials={len(finished) + 1}")
    assert more.returncode == 0, more.stderr[-3000:]
    resumed = load_study(tmp_path)
    assert len([t for t in resumed.trials if t.state in FINISHED]) == len(finished) + 1
    assert resumed.user_attrs["mlflow_parent_run_id"] == parent_id
    assert len(child_runs(client, parent_id)) == len(resumed.trials)
    assert client.get_run(parent_id).info.status == "FINISHED"


def test_pruned_trials_are_pruned_in_optuna_and_tagged_in_mlflow(tmp_path):
    done = run_sweep(
        tmp_path,
        *TINY_CARTPOLE,
        "sweep.n_trials=2",
        "pruner=threshold",
        "sweep.pruner.lower=1e9",  # forces pruning at the first evaluation past the warm-up
        "sweep.prune_after_decay=0",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study = load_study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.PRUNED, TrialState.PRUNED]
    # Warm-up: learning_starts + 0 x the decay; kept on the trial for later analysis.
    assert [t.user_attrs["prune_warmup_steps"] for t in study.trials] == [200, 200]
    client = client_for(tmp_path)
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    for run in child_runs(client, parent_id):
        assert run.data.tags["optuna.state"] == "PRUNED"
        assert run.info.status == "FINISHED"
        # Stopped at the first eval after learning_starts (500 of 1500 steps); no model.
        assert run.data.metrics["eval/best_return_mean"] is not None
        assert client.get_metric_history(run.info.run_id, "eval/return_mean")[-1].step == 500
        assert "best_model" not in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert client.get_run(parent_id).data.metrics["trials/pruned"] == 2
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("dqn-cartpole", "champion")


def _stop_a_running_sweep(
    workdir: Path, stop: Callable[[subprocess.Popen], None]
) -> tuple[int, str]:
    """Start a long two-worker sweep, `stop` it once both trials run; its status and output."""
    launcher = subprocess.Popen(
        [
            sys.executable,
            str(SWEEP_PY),
            "-m",
            *TINY_CARTPOLE,
            "trainer.total_steps=200000",
            "sweep.n_trials=4",
        ],
        cwd=workdir,
        env=sweep_env(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            running = _running_trials(workdir)
            if running >= 2:
                break
            time.sleep(0.5)
        assert running >= 2, "the workers never started their trials"
        time.sleep(1)
        stop(launcher)
        output, _ = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    return launcher.returncode, output


def _assert_nothing_left_running(workdir: Path, output: str) -> optuna.Study:
    study = load_study(workdir)
    assert study.trials and all(t.state != TrialState.RUNNING for t in study.trials), output[-3000:]
    client = client_for(workdir)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs and all(r.info.status != "RUNNING" for r in runs), output[-3000:]
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    assert parent.info.status == "KILLED"
    return study


def test_ctrl_c_leaves_no_trial_and_no_run_running(tmp_path):
    # What Ctrl-C in a terminal does: SIGINT to the whole process group.
    status, output = _stop_a_running_sweep(tmp_path, lambda p: os.killpg(p.pid, signal.SIGINT))
    assert status == 130, output[-3000:]
    assert "Ctrl-C: workers are closing their trials" in output
    _assert_nothing_left_running(tmp_path, output)


def test_sigterm_to_the_launcher_alone_stops_its_workers_resumably(tmp_path):
    # What `kill` or `docker stop` does: SIGTERM to the launcher, not to its workers.
    status, output = _stop_a_running_sweep(tmp_path, subprocess.Popen.terminate)
    assert status == EXIT_RESUMABLE, output[-3000:]
    study = _assert_nothing_left_running(tmp_path, output)
    stopped = [t for t in study.trials if t.state == TrialState.FAIL]
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(stopped) == 2, output[-3000:]

    # Both trials re-queued with their parameters and runs, to resume from their checkpoints.
    queued = _by_run(waiting)
    assert queued.keys() == _by_run(stopped).keys()
    for run_id, trial in _by_run(stopped).items():
        assert queued[run_id].system_attrs["fixed_params"] == trial.params


def test_a_failing_trial_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path):
    # lr=1e30 without gradient clipping overflows the network: the loss becomes NaN.
    done = run_sweep(
        tmp_path,
        *TINY_CARTPOLE,
        "sweep.n_trials=2",
        "sampler=random",
        "sweep.sampler.seed=1",  # draws lr 1e30, then 0.001 twice
        "sweep.enqueue_baseline=false",
        "~sweep.space.agent.lr",
        "+sweep.space.agent.lr={type:categorical,choices:[1e30,0.001]}",
        "agent.max_grad_norm=null",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study = load_study(tmp_path)
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    failed = study.trials[0]
    assert "FloatingPointError: training loss became nan" in failed.user_attrs["fail_reason"]
    run = client_for(tmp_path).get_run(failed.user_attrs["mlflow_run_id.0"])
    assert run.info.status == "FAILED"
    assert "training loss became nan" in run.data.tags["error"]


def test_a_killed_workers_trial_is_failed_by_heartbeat_and_retried(tmp_path):
    command = [sys.executable, str(SWEEP_PY), *TINY_CARTPOLE, "sweep.n_trials=1"]
    slow = [*command, "trainer.total_steps=200000"]
    worker = subprocess.Popen(slow, cwd=tmp_path, env=sweep_env(tmp_path))
    try:
        deadline = time.monotonic() + 120
        query = "SELECT COUNT(*) FROM trial_user_attributes WHERE key = 'mlflow_run_id.0'"
        while _count(tmp_path, query) < 1 and time.monotonic() < deadline:
            time.sleep(0.5)  # until the trial has opened its MLflow run
    finally:
        worker.kill()  # SIGKILL: no cleanup at all
        worker.wait()
    time.sleep(7)  # past sweep.grace_period=6

    done = run_sweep(tmp_path, *TINY_CARTPOLE, "sweep.n_trials=1")
    assert done.returncode == 0, done.stderr[-3000:]
    killed, retried = load_study(tmp_path).trials
    assert killed.state == TrialState.FAIL
    assert retried.state == TrialState.COMPLETE
    assert retried.system_attrs["failed_trial"] == killed.number
    assert retried.params == killed.params
    client = client_for(tmp_path)
    killed_run = client.get_run(killed.user_attrs["mlflow_run_id.0"])
    assert killed_run.info.status == "FAILED"
    assert "no heartbeat" in killed_run.data.tags["error"]


def _by_run(trials: list[optuna.trial.FrozenTrial]) -> dict[str, optuna.trial.FrozenTrial]:
    return {t.user_attrs["mlflow_run_id.0"]: t for t in trials}


def _running_trials(workdir: Path) -> int:
    return _count(workdir, "SELECT COUNT(*) FROM trials WHERE state = 'RUNNING'")


def _count(workdir: Path, query: str) -> int:
    """A count from the study's SQLite file, read with plain sqlite3 and closed at once.

    An Optuna storage left open in this process keeps SQLite's shared lock and would
    block the workers' writes.
    """
    if not (workdir / "optuna.db").exists():
        return 0
    with closing(sqlite3.connect(workdir / "optuna.db")) as db:
        try:
            return db.execute(query).fetchone()[0]
        except sqlite3.OperationalError:  # tables not created yet
            return 0


def test_a_sweep_searches_the_dqn_extensions_and_config_groups(tmp_path):
    """sweeps/extensions.yaml, shrunk to CartPole: trials pick buffer, exploration, n-step…"""
    tiny = [o for o in TINY_CARTPOLE if not o.startswith("sweep=")]
    done = run_sweep(
        tmp_path,
        "sweep=extensions",
        "env=cartpole",
        *tiny,
        "sweep.n_trials=4",
        "sweep.study_name=dqn-cartpole",
        "sampler=random",
        "pruner=none",
        "sweep.enqueue_baseline=false",
        "sweep.space.agent.n_step.choices=[1,3]",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study = load_study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    searched = {"agent.lr", "agent.double_q", "agent.n_step", "network.dueling", "buffer"}
    assert searched | {"buffer.capacity", "exploration"} == set(study.trials[0].params)
    client = client_for(tmp_path)
    for trial in study.trials:
        params = client.get_run(trial.user_attrs["mlflow_run_id.0"]).data.params
        # The trial's run trained with what the trial picked, options and keys alike.
        buffer = {"uniform": "UniformReplayBuffer", "prioritized": "PrioritizedReplayBuffer"}
        assert params["buffer._target_"].endswith(buffer[trial.params["buffer"]])
        assert params["exploration._target_"].endswith(
            {"epsilon_greedy": "EpsilonGreedy", "boltzmann": "Boltzmann"}[
                trial.params["exploration"]
            ]
        )
        assert params["agent.n_step"] == str(trial.params["agent.n_step"])
        assert params["network.dueling"] == str(trial.params["network.dueling"])
        assert params["buffer.capacity"] == str(trial.params["buffer.capacity"])


def test_a_trial_stopped_by_sigterm_resumes_from_its_checkpoint_when_the_sweep_restarts(
    tmp_path,
):
    args = [*TINY_CARTPOLE, "sweep.n_trials=1", "trainer.total_steps=4000"]
    args += ["trainer.checkpoint_every=500"]
    worker = subprocess.Popen(
        [sys.executable, str(SWEEP_PY), *args],
        cwd=tmp_path,
        env=sweep_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("checkpoints/*/checkpoint.pt")) and time.monotonic() < deadline:
        time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)  # what a scheduler sends before preempting
    _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == EXIT_RESUMABLE, stderr[-3000:]

    done = run_sweep(tmp_path, *args)

    assert done.returncode == 0, done.stderr[-3000:]
    stopped, retried = load_study(tmp_path).trials
    assert stopped.state == TrialState.FAIL
    assert retried.state == TrialState.COMPLETE
    assert retried.params == stopped.params
    run_id = stopped.user_attrs["mlflow_run_id.0"]
    assert retried.user_attrs["mlflow_run_id.0"] == run_id  # the same run, continued
    assert f"resuming run {run_id}" in done.stdout + done.stderr
    run = client_for(tmp_path).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["optuna.trial"] == str(retried.number)
    steps = [m.step for m in client_for(tmp_path).get_metric_history(run_id, "eval/return_mean")]
    assert steps == [500 * k for k in range(1, 9)]  # no eval lost or repeated
