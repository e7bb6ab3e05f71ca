"""Schemas of the evaluation and comparison configs (conf/evaluate.yaml, conf/compare.yaml)."""

from dataclasses import dataclass, field

from omegaconf import MISSING

from dqnlab.config.schema.rules import ranged
from dqnlab.config.schema.training import DEVICE


@dataclass
class TrackingUriConf:
    """Which MLflow store to read and write (null: MLFLOW_TRACKING_URI, else the default)."""

    uri: str | None = None


@dataclass
class EvaluateConfig:
    """src/evaluate.py; the model reference is resolved by dqnlab.evaluation.model_refs."""

    model: str = MISSING
    episodes: int = ranged(ge=1)
    epsilon: float = ranged(ge=0, le=1, noun="a probability")
    seed: int = ranged(ge=0, le=2**32 - 1)
    device: str = DEVICE
    record_video: bool = MISSING
    video_episodes: int = ranged(ge=0)
    output: str | None = None
    tracking: TrackingUriConf = field(default_factory=TrackingUriConf)


@dataclass
class CompareConfig:
    """src/compare.py."""

    experiment: str = MISSING
    metric: str = MISSING
    ascending: bool = MISSING
    params: list[str] | None = None
    limit: int | None = ranged(gt=0, default=None)
    filter: str | None = None
    tracking: TrackingUriConf = field(default_factory=TrackingUriConf)
