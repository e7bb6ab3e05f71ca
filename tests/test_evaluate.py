"""Evaluate a trained model from every kind of reference; bad references fail before any run."""

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import mlflow
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from dqnlab.config.cli import CONF_DIR
from dqnlab.errors import ConfigError
from dqnlab.evaluation.command import evaluate
from dqnlab.evaluation.model_refs import load_model
from dqnlab.training.run import run
from tests.conftest import short_run_overrides

SRC = Path(__file__).resolve().parents[1] / "src"
MODEL_NAME = "dqn-cartpole-test"
SUMMARY_KEYS = ("return_mean", "return_std", "return_min", "return_max", "length_mean")


@dataclass(frozen=True)
class Trained:
    """What the module's trainings left behind."""

    workdir: Path
    run_id: str  # logged a best_model (registered as MODEL_NAME@champion) and outputs/model.pt
    run_name: str
    model_uri: str  # MLflow 3's models:/<model id> of that best_model
    bare_run_id: str  # logged no model: only its final checkpoint


def _compose(config_name: str, *overrides: str) -> DictConfig:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name, overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """Two tiny CartPole runs in a throwaway MLflow store that is also the working dir."""
    workdir = tmp_path_factory.mktemp("evaluate")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        best = run(_compose("config", *short_run_overrides(1000), "trainer.output_dir=outputs"))
        bare = run(_compose("config", *short_run_overrides(400), "tracking.log_model=false"))
        version = mlflow.register_model(f"runs:/{best.run_id}/best_model", MODEL_NAME)
        MlflowClient().set_registered_model_alias(MODEL_NAME, "champion", version.version)
        run_name = MlflowClient().get_run(best.run_id).info.run_name
        yield Trained(workdir, best.run_id, run_name, best.model_uri, bare.run_id)
        mlflow.set_tracking_uri(None)


def _evaluate(model: str, *overrides: str) -> dict[str, Any]:
    return evaluate(_compose("evaluate", f"model={model}", "episodes=3", *overrides))


def _all_runs() -> list[mlflow.entities.Run]:
    client = MlflowClient()
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def _episodes_csv(run_id: str) -> list[dict[str, str]]:
    text = mlflow.artifacts.load_text(f"runs:/{run_id}/episodes.csv")
    return list(csv.DictReader(io.StringIO(text)))


# Every one of these names the best weights of the trained run.
BEST_WEIGHTS: dict[str, tuple[Callable[[Trained], str], str]] = {
    "run id": (lambda t: t.run_id, "best model of run"),
    "runs URI": (lambda t: f"runs:/{t.run_id}/best_model", "best_model of run"),
    "registry alias": (lambda t: f"models:/{MODEL_NAME}@champion", "version 1 (@champion)"),
    "registry version": (lambda t: f"models:/{MODEL_NAME}/1", "version 1 from run"),
    "logged model": (lambda t: t.model_uri, "of run"),
    "output model.pt": (lambda t: "outputs/model.pt", "checkpoint file outputs/model.pt of run"),
}


def test_every_reference_to_the_best_weights_gives_the_same_nested_evaluation_run(
    trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    client = MlflowClient()
    source = client.get_run(trained.run_id)
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(5, 4)), dtype=torch.float32)
    expected_q = load_model("outputs/model.pt", torch.device("cpu")).q_net(obs)
    summaries = {}
    for kind, (reference_of, origin) in BEST_WEIGHTS.items():
        reference = reference_of(trained)
        result = _evaluate(reference)
        printed = capsys.readouterr().out
        assert origin in result["source"] and origin in printed, kind
        assert result["source_run_id"] == trained.run_id
        assert result["env_id"] == "CartPole-v1"  # from the run's config, not the user
        summaries[kind] = {key: result[key] for key in SUMMARY_KEYS}
        torch.testing.assert_close(
            load_model(reference, torch.device("cpu")).q_net(obs), expected_q
        )
        assert f"mean {result['return_mean']:.2f}" in printed

        found = client.get_run(result["evaluation_run_id"])
        assert found.info.status == "FINISHED"
        assert found.info.experiment_id == source.info.experiment_id
        assert found.info.run_name == f"evaluation-{trained.run_name}"
        assert found.data.tags["dqnlab.run_type"] == "evaluation"
        assert found.data.tags["dqnlab.source_run_id"] == trained.run_id
        assert found.data.tags["dqnlab.model_ref"] == reference
        assert found.data.tags["mlflow.parentRunId"] == trained.run_id
        assert found.data.params == {
            "episodes": "3",
            "epsilon": "0.0",
            "seed": "0",
            "env.id": "CartPole-v1",
        }
        assert found.data.metrics == {f"evaluation/{k}": v for k, v in summaries[kind].items()}
        rows = _episodes_csv(found.info.run_id)
        assert [row["seed"] for row in rows] == ["0", "1", "2"]
        assert sum(float(row["return"]) for row in rows) / 3 == pytest.approx(result["return_mean"])
    # The exported MLflow model and the network rebuilt from model.pt act alike.
    assert all(summary == summaries["run id"] for summary in summaries.values()), summaries


def test_a_run_without_a_best_model_plays_its_final_checkpoint(trained: Trained) -> None:
    by_run = _evaluate(trained.bare_run_id)
    local = f"checkpoints/{trained.bare_run_id}/checkpoint.pt"
    by_file = _evaluate(local)
    assert by_run["source"].startswith("final checkpoint of run")
    assert by_file["source"] == f"checkpoint file {local} of run {trained.bare_run_id}"
    assert [by_run[k] for k in SUMMARY_KEYS] == [by_file[k] for k in SUMMARY_KEYS]
    evaluation = MlflowClient().get_run(by_file["evaluation_run_id"])
    assert evaluation.data.tags["mlflow.parentRunId"] == trained.bare_run_id


def test_episodes_follow_their_seeds_and_epsilon(trained: Trained) -> None:
    # epsilon=1: a random policy, so the episodes are short and depend only on the seeds.
    first = _evaluate("outputs/model.pt", "epsilon=1.0", "seed=5")
    again = _evaluate("outputs/model.pt", "epsilon=1.0", "seed=5")
    other = _evaluate("outputs/model.pt", "epsilon=1.0", "seed=6")
    first_rows = _episodes_csv(first["evaluation_run_id"])
    assert first_rows == _episodes_csv(again["evaluation_run_id"])
    assert [row["seed"] for row in first_rows] == ["5", "6", "7"]
    assert first_rows[1:] == _episodes_csv(other["evaluation_run_id"])[:2]


def test_record_video_logs_browser_playable_mp4s(trained: Trained, tmp_path: Path) -> None:
    result = _evaluate(trained.run_id, "epsilon=1.0", "record_video=true", "video_episodes=2")
    run_id = result["evaluation_run_id"]
    listed = [a.path for a in MlflowClient().list_artifacts(run_id, "videos")]
    assert listed == ["videos/episode-0.mp4", "videos/episode-1.mp4"]
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="videos/episode-0.mp4", dst_path=str(tmp_path)
    )
    video = cv2.VideoCapture(local)
    fourcc = int(video.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    length = int(_episodes_csv(run_id)[0]["length"])
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == length + 1  # the reset frame too
    assert (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (600, 400)
    assert fourcc in ("VP90", "vp09")  # VP9: browsers play it, unlike mp4v


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("nosuch.pt", "model='nosuch.pt' is no file, run id or MLflow URI"),
        ("mlflow.db", "model='mlflow.db' is not a dqnlab checkpoint"),
        ("0123456789abcdef0123456789abcdef", "names no run of this tracking store"),
        ("runs:/0123456789abcdef0123456789abcdef/best_model", "names no run"),
        (f"models:/{MODEL_NAME}@nosuch", "is not in the registry"),
        (f"models:/{MODEL_NAME}/7", "is not in the registry"),
        (f"models:/{MODEL_NAME}/latest", "names no version or alias"),
        ("models:/m-nosuch", "is not in the registry"),
    ],
)
def test_a_bad_reference_is_a_config_error_before_any_run(
    trained: Trained, reference: str, problem: str
) -> None:
    before = len(_all_runs())
    with pytest.raises(ConfigError, match="use a run id, runs:/<run id>/best_model") as error:
        _evaluate(reference)
    assert problem in str(error.value) and "\n" not in str(error.value)
    assert len(_all_runs()) == before


def _cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SRC / "evaluate.py"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONWARNINGS": "ignore"},  # the store is this module's
    )


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("outputs/nosuch.pt", "model='outputs/nosuch.pt' is no file"),
        (f"models:/{MODEL_NAME}@nosuch", "is not in the registry"),
    ],
)
def test_the_command_reports_a_bad_reference_in_one_line(
    trained: Trained, reference: str, problem: str
) -> None:
    before = len(_all_runs())
    done = _cli(trained.workdir, f"model={reference}")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: "), done.stderr
    assert problem in lines[0] and "models:/<name>@<alias>" in lines[0]
    assert len(_all_runs()) == before


def test_the_command_writes_a_json_summary_for_a_pipeline(trained: Trained) -> None:
    done = _cli(trained.workdir, "model=outputs/model.pt", "episodes=2", "output=results/eval.json")
    assert done.returncode == 0, done.stderr
    summary = json.loads((trained.workdir / "results" / "eval.json").read_text())
    assert summary["episodes"] == 2 and summary["source_run_id"] == trained.run_id
    assert f"mean {summary['return_mean']:.2f}" in done.stdout
    evaluation = MlflowClient().get_run(summary["evaluation_run_id"])
    assert evaluation.data.metrics["evaluation/return_mean"] == summary["return_mean"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("episodes=0", "episodes"),
        ("epsilon=2", "epsilon"),
        ("seed=-1", "seed"),
        ("device=tpu", "device"),
    ],
)
def test_bad_settings_name_the_key_before_the_model_is_looked_up(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}="):
        evaluate(_compose("evaluate", "model=no-such-model", override))
