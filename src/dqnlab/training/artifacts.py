"""What training logs to its MLflow run at evaluations besides metrics: figures and videos."""

import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import torch
from torch import nn

from dqnlab.evaluation.playback import make_env, play_episode, render_fps
from dqnlab.evaluation.video import VideoWriter
from dqnlab.tracking.mlflow_run import SERVER_ERRORS
from dqnlab.tracking.server import is_server
from dqnlab.training.loop import TrainResult
from dqnlab.training.plots import diagnostics, learning_curve

log = logging.getLogger(__name__)

Recorder = Callable[[Path], None]  # writes a video of one greedy episode to the given path


def greedy_video(
    q_net: nn.Module,
    env_id: str,
    env_kwargs: Mapping[str, Any],
    seed: int,
    device: torch.device,
    epsilon: float = 0.0,
) -> Recorder:
    """A recorder of one episode of `q_net` as it is when called, always from `seed`:
    greedy, or epsilon-greedy as evaluations play (`trainer.eval_epsilon`)."""

    def record(path: Path) -> None:
        with (
            closing(make_env(env_id, env_kwargs, render=True)) as env,
            VideoWriter(path, render_fps(env_id, env_kwargs)) as video,
        ):
            play_episode(q_net, env, seed, epsilon, device, video.write)

    return record


class EvalArtifacts:
    """Refreshes the diagnostic figures after evaluations and records greedy videos.

    Drawing four panels costs a few tenths of a second, a real share of a short CartPole
    run with frequent evaluations, so figures are drawn at most every `plots_every_s`
    seconds, counted from the start (a run shorter than that draws them once, at its end),
    and always after the last evaluation. A video (`videos/step-<step>.mp4`) is
    recorded at the first evaluation past each multiple of `video_every` env steps; encoding
    costs about 15 ms a frame on a CPU, so it is off unless asked for.
    """

    def __init__(
        self,
        title: str,
        plots_every_s: float,
        video_every: int | None = None,
        record_video: Recorder | None = None,
    ) -> None:
        self.title = title
        self.plots_every_s = plots_every_s
        self.video_every = video_every
        self.record_video = record_video
        self.last_plot = time.perf_counter()
        self.last_video_step = 0

    def __call__(self, result: TrainResult, last: bool) -> None:
        try:
            self._log(result, last)
        except SERVER_ERRORS as exc:
            if not is_server(mlflow.get_tracking_uri()):
                raise
            # A figure is redrawn at the next evaluation; this video is not recorded.
            log.warning("figures or video of step %d not logged: %s", result.evals[-1].step, exc)

    def _log(self, result: TrainResult, last: bool) -> None:
        step = result.evals[-1].step
        now = time.perf_counter()
        if last or now - self.last_plot >= self.plots_every_s:
            self._log_figures(result, last)
            self.last_plot = time.perf_counter()
        if self.video_every and step // self.video_every > self.last_video_step // self.video_every:
            self._log_video(step)
            self.last_video_step = step

    def _log_figures(self, result: TrainResult, last: bool) -> None:
        figures = {"plots/diagnostics.png": diagnostics(result, self.title)}
        if last:
            figures["plots/learning_curve.png"] = learning_curve(result, self.title)
        for path, figure in figures.items():
            mlflow.log_figure(figure, path)
            plt.close(figure)

    def _log_video(self, step: int) -> None:
        assert self.record_video is not None
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"step-{step:09d}.mp4"
            self.record_video(path)
            mlflow.log_artifact(str(path), "videos")
