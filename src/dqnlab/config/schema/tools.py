"""Schemas of the evaluation and comparison configs (conf/evaluate.yaml, conf/compare.yaml)."""

from dataclasses import dataclass, field

from omegaconf import MISSING

from dqnlab.config.schema.rules import ranged
from dqnlab.config.schema.training import DEVICE


@dataclass
class TrackingUriConf:
    """Which MLflow store to read and write (null: MLFLOW_TRACKING_URI, else the default)."""

    uri: str | None = None
    """MLflow tracking URI; `null`: `MLFLOW_TRACKING_URI` when set, else `sqlite:///mlflow.db`."""


@dataclass
class EvaluateConfig:
    """src/evaluate.py; the model reference is resolved by dqnlab.evaluation.model_refs."""

    model: str = MISSING
    """Run id, `runs:/<run id>/best_model`, `models:/<name>@<alias>`,
    `models:/<name>/<version>`, or a `checkpoint.pt` / `model.pt` path."""
    episodes: int = ranged(ge=1)
    """Episodes to play, one per seed."""
    epsilon: float = ranged(ge=0, le=1, noun="a probability")
    """Probability of a random action (0: greedy)."""
    seed: int = ranged(ge=0, le=2**32 - 1)
    """Seed of the first episode; the others follow."""
    device: str = DEVICE
    """`auto`: CUDA when visible, else the CPU."""
    record_video: bool = MISSING
    """Log MP4 videos of the first episodes."""
    video_episodes: int = ranged(ge=0)
    """How many episodes are recorded."""
    output: str | None = None
    """Also write the summary as JSON to this path (a DVC metrics file)."""
    tracking: TrackingUriConf = field(default_factory=TrackingUriConf)
    """Where the evaluation run is recorded."""


@dataclass
class CompareConfig:
    """src/compare.py."""

    experiment: str = MISSING
    """MLflow experiment (`dqn-<env.name>`); an unknown one lists those that exist."""
    metric: str = MISSING
    """The metric runs are ranked by (each run's latest value)."""
    ascending: bool = MISSING
    """`false`: highest first; `true`: lowest first (losses, times)."""
    params: list[str] | None = None
    """Param columns; `null`: those whose values differ between the listed runs."""
    limit: int | None = ranged(gt=0, default=None)
    """At most this many rows."""
    filter: str | None = None
    """An MLflow search filter, e.g. `params.seed = '0'` (quote it for Hydra)."""
    tracking: TrackingUriConf = field(default_factory=TrackingUriConf)
    """Which MLflow store to read."""
