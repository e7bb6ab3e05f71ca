"""Sweeps across machines: workers started by a cluster engine's Hydra launcher, one Optuna
study on PostgreSQL, one MLflow server (PostgreSQL backend, artifacts proxied to an S3
stand-in). Every server is real and on loopback, started once per test session."""

import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient
from servers import (
    MlflowServer,
    Postgres,
    mlflow_server,
    postgres_cluster,
    ray_head,
    s3_stand_in,
    slurm_cluster,
)
from sweep_helpers import SWEEP_PY, TrialBudget, audit_sweep, metric_problems, run_sweep

from dqnlab.errors import ConfigError
from dqnlab.sweep.launchers import check_launcher, with_launcher_defaults

EVALUATE_PY = SWEEP_PY.parent / "evaluate.py"
BUDGET = TrialBudget(total_steps=800, eval_every=400, log_every=200)
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL")


@dataclass
class Stack:
    """What a multi-machine sweep talks to."""

    postgres: Postgres
    mlflow: MlflowServer


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """PostgreSQL, an S3 stand-in, and an MLflow server that alone holds the S3 keys."""
    with postgres_cluster() as postgres, s3_stand_in() as s3:
        backend = postgres.create_database("mlflow").replace(
            "postgresql://", "postgresql+psycopg://"
        )
        keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        server_env = keys | {"MLFLOW_S3_ENDPOINT_URL": s3, "AWS_DEFAULT_REGION": "us-east-1"}
        with mlflow_server(backend, "s3://dqnlab/artifacts", server_env) as server:
            yield Stack(postgres, server)


@pytest.fixture
def client_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A worker machine's environment: no S3 credentials, no local store."""
    for name in (*CREDENTIALS, "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def sweep_command(stack: Stack, name: str, *args: str) -> list[str]:
    """A sweep named `name` (study, experiment, registered model) on the stack."""
    return [
        sys.executable,
        str(SWEEP_PY),
        "-m",
        *BUDGET.overrides(),
        f"sweep.study_name={name}",
        f"tracking.experiment={name}",
        f"sweep.registered_model={name}",
        f"sweep.storage={stack.postgres.create_database(name)}",
        f"tracking.uri={stack.mlflow.url}",
        "trainer.test_episodes=2",
        "sweep.n_trials=2",
        "sweep.workers=2",
        "sweep.heartbeat_interval=2",
        "sweep.grace_period=6",
        "device=cpu",
        *args,
    ]


def test_submitit_workers_fill_a_postgres_study_and_log_through_one_mlflow_server(
    tmp_path: Path, stack: Stack, client_env: dict[str, str]
) -> None:
    name = "submitit-local"
    command = sweep_command(stack, name, "hydra/launcher=submitit_local")
    done = subprocess.run(
        command, cwd=tmp_path, env=client_env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    storage = stack.postgres.url(name)
    assert audit_sweep(tmp_path, 2, 2, BUDGET, name, storage, stack.mlflow.url) == []
    assert not list(tmp_path.glob("*.db")) and not (tmp_path / "mlruns").exists()

    mlflow.set_tracking_uri(stack.mlflow.url)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # proxied
    batch = torch.zeros((2, 4))
    runs = client.search_runs([experiment.experiment_id], "tags.`optuna.trial` != ''")
    for run in runs:  # each trial's best model comes back through the server
        model = mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/best_model")
        assert model(batch).shape == (2, 2)
    champion = mlflow.pytorch.load_model(f"models:/{name}@champion")
    assert champion(batch).shape == (2, 2)
    evaluated = subprocess.run(
        [
            sys.executable,
            str(EVALUATE_PY),
            f"model=models:/{name}@champion",
            "episodes=2",
            f"tracking.uri={stack.mlflow.url}",
        ],
        cwd=tmp_path,
        env=client_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "return" in evaluated.stdout


def test_a_tracking_server_away_for_30_s_loses_and_doubles_no_metric_point(
    tmp_path: Path, client_env: dict[str, str]
) -> None:
    """The run trains on while the server is down, and sends what it kept when it is back."""
    budget = TrialBudget(total_steps=4000, eval_every=2000, log_every=200)
    server = MlflowServer(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "artifacts"))
    server.start()
    train_overrides = [o for o in budget.overrides() if not o.startswith(("sweep=", "pruner="))]
    command = [
        sys.executable,
        str(SWEEP_PY.parent / "train.py"),
        *train_overrides,
        "env.id=slow_env:SlowCartPole-v0",  # at least 10 ms a step: it outlasts the outage
        "trainer.test_episodes=0",
        "tracking.flush_every_s=0.5",
        f"tracking.uri={server.url}",
        f"trainer.checkpoint_dir={tmp_path / 'checkpoints'}",
    ]
    env = client_env | {"PYTHONPATH": str(Path(__file__).parent)}
    log = tmp_path / "train.log"
    with log.open("w") as out:
        training = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=out, stdout=out)
    try:
        client = MlflowClient(server.url)
        run_id = wait_for_points(client, "train/loss", training)
        server.stop()
        time.sleep(30)
        assert training.poll() is None, log.read_text()[-3000:]  # it trains on meanwhile
        server.start()
        assert training.wait(timeout=600) == 0, log.read_text()[-3000:]
        text = log.read_text()
        assert "tracking server not answering" in text and "tracking server back" in text
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert metric_problems(client, run, budget) == []
    finally:
        training.kill()
        server.stop()


def wait_for_points(client: MlflowClient, key: str, training: subprocess.Popen) -> str:
    """The id of the run once it has recorded a point of `key`."""
    while training.poll() is None:
        runs = client.search_runs(
            [e.experiment_id for e in client.search_experiments()], f"metrics.`{key}` > -1e9"
        )
        if runs:
            return runs[0].info.run_id
        time.sleep(0.5)
    pytest.fail(f"training exited {training.returncode} before logging {key}")


def test_a_launcher_that_is_not_installed_names_its_extra(monkeypatch: pytest.MonkeyPatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "ray" else real_find_spec(name)
    )
    with pytest.raises(ConfigError, match=re.escape("pip install -e '.[ray]'")):
        check_launcher(["sweep=cartpole", "hydra/launcher=ray"])


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A Ray head whose own environment names another MLflow store: the launcher must
    pass its own MLFLOW_TRACKING_URI on to the workers."""
    with ray_head(gpus=2, env={"MLFLOW_TRACKING_URI": "sqlite:////tmp/not-this-one.db"}) as head:
        yield head


def test_ray_workers_each_get_their_own_gpu_and_fill_one_study(
    tmp_path: Path, ray_address: str
) -> None:
    """Relative store paths resolve in the launch directory, as with the other launchers."""
    done = run_sweep(
        tmp_path,
        "-m",
        "hydra/launcher=ray",
        f"hydra.launcher.address={ray_address}",
        *BUDGET.overrides(),
        "sweep.n_trials=2",
        "sweep.workers=2",
        "trainer.torch_threads=1",
        "device=cpu",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert audit_sweep(tmp_path, 2, 2, BUDGET) == []
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.`optuna.trial` != ''"
    )
    seen = sorted(run.data.tags["cuda_visible_devices"] for run in runs)
    assert seen == ["0", "1"]  # one GPU each, as Ray assigned them


def test_a_slurm_job_array_runs_the_workers(tmp_path: Path) -> None:
    """One array job of sweep.workers tasks through a real (one-node) SLURM cluster."""
    with slurm_cluster() as slurm_env:
        done = run_sweep(
            tmp_path,
            "-m",
            "hydra/launcher=submitit_slurm",
            "hydra.launcher.gpus_per_task=null",  # the test cluster has no GPU
            "hydra.launcher.cpus_per_task=1",
            *BUDGET.overrides(),
            "sweep.n_trials=2",
            "sweep.workers=2",
            "trainer.torch_threads=1",
            "device=cpu",
            timeout=600,
            env=slurm_env,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert audit_sweep(tmp_path, 2, 2, BUDGET) == []
    logs = list((tmp_path / "multirun").rglob("*_log.out"))
    assert len(logs) == 2  # two tasks of one array job


def test_our_submitit_defaults_follow_the_launcher_choice_and_yield_to_the_command_line():
    argv = ["-m", "hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=90", "seed=1"]
    given = with_launcher_defaults(argv)
    assert given[:2] == argv[:2] and given[-2:] == argv[-2:]
    added = given[2:-2]
    assert "hydra.launcher.max_num_timeout=20" in added
    assert "+hydra.launcher.additional_parameters.requeue=true" in added
    assert not any(arg.startswith("hydra.launcher.timeout_min") for arg in added)
    assert with_launcher_defaults(["-m", "seed=1"]) == ["-m", "seed=1"]  # joblib: as it was
