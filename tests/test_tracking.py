"""A short real run: what MLflow holds afterwards, and how failed runs end."""

import json
from pathlib import Path

import cv2
import mlflow
import numpy as np
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from dqnlab.checkpointing.files import load_checkpoint
from dqnlab.envs.factory import make_vector_env
from dqnlab.evaluation.greedy import evaluate_greedy
from dqnlab.tracking.experiments import KIND_TAG, TRAINING_KIND, use_experiment
from dqnlab.training.artifacts import EvalArtifacts
from dqnlab.training.run import EVAL_SEED_OFFSET, TEST_SEED_OFFSET, run
from dqnlab.training.state import EvalPoint, TrainResult
from tests.conftest import short_run_overrides

METRICS = (
    "train/episode_return",
    "train/episode_length",
    "train/loss",
    "train/q_mean",
    "train/epsilon",
    "train/sps",
    "eval/return_mean",
    "eval/return_std",
    "eval/q_initial",
)


def test_smoke_run_records_params_metrics_artifacts_and_a_loadable_model(
    compose_config, tracking_uri: str
) -> None:
    overrides = ["seed=3", "trainer.output_dir=out", "trainer.test_episodes=7"]
    cfg = compose_config(*short_run_overrides(), *overrides)
    result = run(cfg)
    client = MlflowClient()
    experiment = client.get_experiment_by_name("dqn-cartpole")
    (found,) = client.search_runs([experiment.experiment_id])
    info, data = found.info, found.data
    # Tagged with MLflow's experiment kind for model training.
    assert experiment.tags[KIND_TAG] == TRAINING_KIND == "custom_model_development"

    assert info.status == "FINISHED"
    assert info.run_name.startswith("cartpole-s3-")
    assert data.params["agent.lr"] == str(cfg.agent.lr)
    assert data.params["network.hidden_sizes"] == "[32, 32]"
    assert data.params["env.id"] == "CartPole-v1"
    assert len(data.tags["git.commit"]) == 40  # the tests run from a git checkout
    assert data.tags["git.dirty"] in ("True", "False")
    assert "command" in data.tags and "hydra.overrides" in data.tags
    # Where it ran, so speeds are compared between like machines.
    assert data.tags["device"] == "cpu" and data.tags["device.name"]
    assert int(data.tags["host.cpus"]) >= 1
    for name in METRICS:
        history = client.get_metric_history(info.run_id, name)
        assert history, name
    evals = client.get_metric_history(info.run_id, "eval/return_mean")
    assert [m.step for m in evals] == [e.step for e in result.evals] == [1000, 2000]
    steps = [m.step for m in client.get_metric_history(info.run_id, "train/loss")]
    assert steps == sorted(steps) and len(steps) == len(set(steps))

    artifacts = {a.path for a in client.list_artifacts(info.run_id)}
    assert {"config.yaml", "plots", "checkpoints"} <= artifacts
    assert {a.path for a in client.list_artifacts(info.run_id, "plots")} == {
        "plots/diagnostics.png",
        "plots/learning_curve.png",
    }
    # Plain files for pipelines: the best weights with their config, metrics, the eval curve.
    saved = load_checkpoint(Path("out/model.pt"))
    assert saved["run_id"] == info.run_id
    assert OmegaConf.create(saved["config"]).agent.lr == cfg.agent.lr
    metrics = json.loads(Path("out/metrics.json").read_text())
    assert metrics["eval_return_best"] == result.best_eval
    assert metrics["test_return"] == result.test_return
    assert Path("out/eval_curve.csv").read_text().splitlines()[0] == "step,return_mean,return_std"

    model = mlflow.pytorch.load_model(f"runs:/{info.run_id}/best_model")
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(5, 4)), dtype=torch.float32)
    q_values = model(obs)
    assert q_values.shape == (5, 2)
    # The logged model is the best one by eval return, not the last weights: played on the
    # run's eval seeds, it scores the run's best evaluation again.
    eval_envs = make_vector_env("CartPole-v1", cfg.trainer.eval_episodes)
    replayed = evaluate_greedy(model, eval_envs, cfg.seed + EVAL_SEED_OFFSET, torch.device("cpu"))
    eval_envs.close()
    assert replayed.mean == result.best_eval
    # The test: the same model on 7 episodes from other start states than the evaluations'.
    test_envs = make_vector_env("CartPole-v1", 7)
    tested = evaluate_greedy(model, test_envs, cfg.seed + TEST_SEED_OFFSET, torch.device("cpu"))
    test_envs.close()
    assert tested.mean == result.test_return
    (test_metric,) = client.get_metric_history(info.run_id, "test/return_mean")
    assert (test_metric.value, test_metric.step) == (result.test_return, result.steps)


def test_figures_wait_for_plots_every_s_from_the_start_and_always_come_at_the_end(
    tracking_uri: str,
) -> None:
    """A run shorter than `plots_every_s` spends no time drawing before its last evaluation."""
    result = TrainResult(evals=[EvalPoint(1000, 1.0, 20.0, 2.0, 5.0)])
    mlflow.set_experiment("figures")  # this store's: another test's may still be the active one
    with mlflow.start_run() as active:
        EvalArtifacts("cartpole", plots_every_s=3600)(result, last=False)
        client = MlflowClient()
        assert client.list_artifacts(active.info.run_id, "plots") == []
        result.evals.append(EvalPoint(2000, 2.0, 40.0, 4.0, 9.0))
        EvalArtifacts("cartpole", plots_every_s=3600)(result, last=True)
        logged = {a.path for a in client.list_artifacts(active.info.run_id, "plots")}
        assert logged == {"plots/diagnostics.png", "plots/learning_curve.png"}


def test_every_extension_at_once_runs_and_logs_a_deterministic_model(
    compose_config, tracking_uri: str
) -> None:
    overrides = ["agent=rainbow_lite", "network.noisy=true", "exploration=boltzmann"]
    result = run(compose_config(*short_run_overrides(), *overrides, "trainer.video_every=2000"))
    client = MlflowClient()
    found = client.get_run(result.run_id)
    assert found.info.status == "FINISHED"
    assert found.data.params["buffer._target_"] == "dqnlab.replay.buffer.PrioritizedReplayBuffer"
    assert client.get_metric_history(result.run_id, "train/temperature")
    # A greedy episode recorded at the evaluation at step 2000, as a browser-playable video.
    (video,) = client.list_artifacts(result.run_id, "videos")
    assert video.path == "videos/step-000002000.mp4"
    capture = cv2.VideoCapture(client.download_artifacts(result.run_id, video.path))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) >= 2 and capture.read()[1].shape == (400, 600, 3)
    model = mlflow.pytorch.load_model(result.model_uri)
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(5, 4)), dtype=torch.float32)
    # Exported in eval mode: the noisy layers use their mean weights, so acting is repeatable.
    assert model(obs).shape == (5, 2) and torch.equal(model(obs), model(obs))


def test_a_crash_ends_the_run_failed_with_the_reason(compose_config, tracking_uri: str) -> None:
    def explode(evals: object) -> None:
        raise RuntimeError("boom at eval")

    with pytest.raises(RuntimeError, match="boom"):
        run(compose_config(*short_run_overrides()), on_eval=explode)
    (found,) = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("dqn-cartpole").experiment_id]
    )
    assert found.info.status == "FAILED"
    assert "boom at eval" in found.data.tags["error"]
    assert MlflowClient().get_metric_history(found.info.run_id, "train/episode_return")


def test_ctrl_c_ends_the_run_killed(compose_config, tracking_uri: str) -> None:
    def interrupt(evals: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(compose_config(*short_run_overrides()), on_eval=interrupt)
    (found,) = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("dqn-cartpole").experiment_id]
    )
    assert found.info.status == "KILLED"


def test_an_experiment_kind_chosen_in_the_ui_is_kept(tracking_uri: str) -> None:
    client = MlflowClient()
    chosen = client.create_experiment("mine", tags={KIND_TAG: "genai_development"})
    assert use_experiment("mine") == chosen
    assert client.get_experiment(chosen).tags[KIND_TAG] == "genai_development"


def test_runs_started_together_share_a_new_experiment(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs on a new store both find the experiment untagged; the second one's tag write
    fails on the database's unique key (as SQLite's did for two benchmark processes)."""
    tag_first = MlflowClient.set_experiment_tag

    def lose_the_race(client: MlflowClient, *args: str) -> None:
        tag_first(client, *args)  # the other process's write lands first
        raise MlflowException("UNIQUE constraint failed: experiment_tags.key")

    monkeypatch.setattr(MlflowClient, "set_experiment_tag", lose_the_race)
    experiment_id = use_experiment("both")
    assert MlflowClient().get_experiment(experiment_id).tags[KIND_TAG] == TRAINING_KIND


def test_a_failed_kind_tag_that_nobody_wrote_is_an_error(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(client: MlflowClient, *args: str) -> None:
        raise MlflowException("permission denied")

    monkeypatch.setattr(MlflowClient, "set_experiment_tag", refuse)
    with pytest.raises(MlflowException, match="permission denied"):
        use_experiment("refused")
