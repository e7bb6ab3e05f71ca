"""Schemas of the evaluation and comparison configs (conf/evaluate.yaml, conf/compare.yaml)."""

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class TrackingUriConf:
    """Which MLflow store to read and write (null: MLFLOW_TRACKING_URI, else the default)."""

    uri: str | None = None


@dataclass
class EvaluateConfig:
    """src/evaluate.py; the model reference is resolved by dqnlab.model_refs."""

    model: str = MISSING
    episodes: int = MISSING
    epsilon: float = MISSING
    seed: int = MISSING
    device: str = MISSING
    record_video: bool = MISSING
    video_episodes: int = MISSING
    output: str | None = None
    tracking: TrackingUriConf = field(default_factory=TrackingUriConf)


@dataclass
class CompareConfig:
    """src/compare.py."""

    experiment: str = MISSING
    metric: str = MISSING
    ascending: bool = MISSING
    params: list[str] | None = None
    limit: int | None = None
    filter: str | None = None
    tracking: TrackingUriConf = field(default_factory=TrackingUriConf)
