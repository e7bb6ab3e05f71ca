"""The DVC pipeline (dvc.yaml): params.yaml matches conf/, and an experiment trains for real."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from tests.conftest import short_run_overrides

ROOT = Path(__file__).resolve().parents[1]
# CI runs `.venv/bin/python -m pytest` without activating the venv: look beside Python first.
DVC = shutil.which("dvc", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
STEPS = 1000


def test_params_yaml_is_conf_composed_with_no_overrides(compose_config) -> None:
    """Plain `dvc repro` trains on params.yaml as committed: it must say what conf/ says."""
    committed = yaml.safe_load((ROOT / "params.yaml").read_text())
    composed = OmegaConf.to_container(compose_config(), resolve=True)
    assert committed == composed, (
        "params.yaml is stale: regenerate it with "
        "`.venv/bin/python src/train.py --cfg=job --resolve > params.yaml`"
    )


def copy_checkout(target: Path, env: dict[str, str]) -> None:
    """The files git would commit (tracked, plus new ones not ignored), in a fresh repo."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # not a tracked file deleted in the working tree
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=target, check=True, env=env)


def dvc_env(home: Path) -> dict[str, str]:
    """A clean environment: the venv's `python` for the stages, no MLflow URI, no analytics."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return env | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        "HOME": str(home),
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(home / ".dvc-site-cache"),
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


@pytest.mark.skipif(DVC is None, reason="the dvc executable is not installed (pip install dvc)")
def test_exp_run_trains_evaluates_and_reports_metrics(tmp_path: Path) -> None:
    """The whole pipeline in a fresh repo with no DVC remote; the frozen sweep is skipped."""
    repo, env = tmp_path / "repo", dvc_env(tmp_path)
    repo.mkdir()
    copy_checkout(repo, env)

    def dvc(*args: str) -> str:
        done = subprocess.run(
            [str(DVC), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    # -S composes conf/ with these overrides into params.yaml; training reads only that.
    overrides = [*short_run_overrides(STEPS), "tracking.log_model=false", "device=cpu"]
    dvc("exp", "run", *(arg for o in overrides for arg in ("-S", o)))

    out = repo / "results" / "train"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["env_steps"] == STEPS  # the -S value reached training
    assert 8 <= metrics["eval_return_final"] <= metrics["eval_return_best"] <= 500
    assert metrics["train_seconds"] > 0
    assert (out / "model.pt").stat().st_size > 0
    with (out / "eval_curve.csv").open() as file:
        assert [int(row["step"]) for row in csv.DictReader(file)] == [STEPS]

    evaluation = json.loads((repo / "results" / "eval.json").read_text())
    assert evaluation["model"] == "results/train/model.pt"
    assert 8 <= evaluation["return_mean"] <= 500

    shown = json.loads(dvc("exp", "show", "--json"))
    experiments = [
        rev["data"] for base in shown for exp in base["experiments"] or [] for rev in exp["revs"]
    ]
    (data,) = experiments
    assert data["metrics"]["results/train/metrics.json"]["data"] == metrics
    assert data["metrics"]["results/eval.json"]["data"] == evaluation
    assert data["params"]["params.yaml"]["data"]["trainer"]["total_steps"] == STEPS

    assert json.loads(dvc("status", "--json")) == {}  # up to date after its own run

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")  # MLflow's default store
    runs = client.search_runs([client.get_experiment_by_name("dqn-cartpole").experiment_id])
    (training,) = [run for run in runs if "trainer.total_steps" in run.data.params]
    assert training.info.status == "FINISHED"
    assert training.data.params["trainer.total_steps"] == str(STEPS)
    assert evaluation["source_run_id"] == training.info.run_id
