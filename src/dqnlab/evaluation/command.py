"""An evaluation run: play a trained model on seeded episodes, log it to MLflow, summarise it."""

import csv
import io
import json
import tempfile
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import mlflow
import torch
from hydra.core.hydra_config import HydraConfig
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from dqnlab.config.checks import check_evaluate_config
from dqnlab.device import resolve_device
from dqnlab.evaluation.model_refs import LoadedModel, load_model
from dqnlab.evaluation.playback import Episodes, play_episodes, render_fps
from dqnlab.evaluation.video import VideoWriter
from dqnlab.tracking.mlflow_run import RunTracker, source_tags, tracked_run


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Play `cfg.model` for `cfg.episodes` seeded episodes, logged as an MLflow evaluation run.

    The values and the model reference are checked before the run exists. Returns the
    summary that is printed and written to `cfg.output`.
    """
    check_evaluate_config(cfg)
    device = resolve_device(cfg.device)
    if cfg.tracking.uri:
        mlflow.set_tracking_uri(cfg.tracking.uri)  # the reference may name runs of this store
    model = load_model(str(cfg.model), device)
    seeds = list(range(cfg.seed, cfg.seed + cfg.episodes))
    recorded = seeds[: cfg.video_episodes] if cfg.record_video else []
    with tempfile.TemporaryDirectory() as tmp, _evaluation_run(cfg, model) as tracker:
        episodes, videos = _play(model, seeds, cfg.epsilon, device, recorded, Path(tmp))
        summary = episodes.summary()
        tracker.log_metrics({f"evaluation/{k}": v for k, v in summary.items()}, step=0)
        mlflow.log_text(_episodes_csv(episodes), "episodes.csv")
        for video in videos:
            mlflow.log_artifact(str(video), "videos")
    print(_table(model, cfg.epsilon, episodes))
    print(f"MLflow: evaluation run {tracker.run_id} in experiment {_experiment(model)}")
    result = {
        "model": str(cfg.model),
        "source": model.origin,
        "source_run_id": model.source_run.info.run_id if model.source_run else None,
        "evaluation_run_id": tracker.run_id,
        "env_id": model.config.env.id,
        "episodes": cfg.episodes,
        "epsilon": cfg.epsilon,
        "seed": cfg.seed,
        **summary,
    }
    if cfg.output is not None:
        Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


def _evaluation_run(cfg: DictConfig, model: LoadedModel) -> AbstractContextManager[RunTracker]:
    """An MLflow run in the training run's experiment, nested under it when there is one."""
    run, env_id = model.source_run, model.config.env.id
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    return tracked_run(
        tracking_uri=cfg.tracking.uri,
        experiment=_experiment(model),
        run_name=f"evaluation-{run.info.run_name if run else Path(str(cfg.model)).stem}",
        params={
            "episodes": str(cfg.episodes),
            "epsilon": str(cfg.epsilon),
            "seed": str(cfg.seed),
            "env.id": env_id,
        },
        tags=source_tags(overrides)
        | {"dqnlab.run_type": "evaluation", "dqnlab.model_ref": str(cfg.model)}
        | ({"dqnlab.source_run_id": run.info.run_id} if run else {}),
        description=f"Evaluation of the {model.origin} on {env_id}",
        flush_every_s=0.0,  # nothing streams: the metrics are sent once, at the end
        parent_run_id=run.info.run_id if run else None,
    )


def _experiment(model: LoadedModel) -> str:
    """The training run's experiment; for a file with no run here, the one its config names."""
    if model.source_run is None:
        return str(model.config.tracking.experiment)
    return MlflowClient().get_experiment(model.source_run.info.experiment_id).name


def _play(
    model: LoadedModel,
    seeds: list[int],
    epsilon: float,
    device: torch.device,
    recorded: list[int],
    video_dir: Path,
) -> tuple[Episodes, list[Path]]:
    """Play every seed; stream the `recorded` episodes to `video_dir/episode-<seed>.mp4`."""
    env_id = model.config.env.id
    env_kwargs = OmegaConf.to_container(model.config.env.kwargs, resolve=True)
    with ExitStack() as stack:
        videos: dict[int, VideoWriter] = {}
        if recorded:
            fps = render_fps(env_id, env_kwargs)
            videos = {
                seed: stack.enter_context(VideoWriter(video_dir / f"episode-{seed}.mp4", fps))
                for seed in recorded
            }
        episodes = play_episodes(
            model.q_net,
            env_id,
            env_kwargs,
            seeds,
            epsilon,
            device,
            record={seed: video.write for seed, video in videos.items()},
        )
    return episodes, [video.path for video in videos.values()]


def _episodes_csv(episodes: Episodes) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["seed", "return", "length"])
    writer.writerows(zip(episodes.seeds, episodes.returns, episodes.lengths, strict=True))
    return out.getvalue()


def _table(model: LoadedModel, epsilon: float, episodes: Episodes) -> str:
    """Per-episode returns and lengths, then the summary, as plain text."""
    s = episodes.summary()
    lines = [
        f"model: {model.origin}",
        f"env: {model.config.env.id}, {len(episodes.seeds)} episodes, epsilon {epsilon}",
        "",
        f"{'seed':>8} {'return':>10} {'length':>8}",
        *(
            f"{seed:>8} {ret:>10.2f} {length:>8}"
            for seed, ret, length in zip(
                episodes.seeds, episodes.returns, episodes.lengths, strict=True
            )
        ),
        "",
        f"return  mean {s['return_mean']:.2f}  std {s['return_std']:.2f}  "
        f"min {s['return_min']:.2f}  max {s['return_max']:.2f}",
        f"length  mean {s['length_mean']:.1f}",
    ]
    return "\n".join(lines)
