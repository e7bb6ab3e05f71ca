"""`trainer.resume`: find the checkpoint and MLflow run that a training continues."""

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import Container, DictConfig, OmegaConf, open_dict

from dqnlab.checkpointing.files import load_checkpoint
from dqnlab.errors import ConfigError
from dqnlab.tracking.store import local_store_missing, require_existing_store

log = logging.getLogger(__name__)

# Keys that may differ between the processes of one run: they do not change what it learns.
# Settings of this process, not of the run: a resumed run takes them from the command line
# (and older runs, recorded before a key existed, get it). The update mode and pinned batches
# change how an update is launched, not its result (tests/test_determinism.py).
RUNTIME_KEYS = (
    "device",
    "agent.update_mode",
    "buffer.pin_memory",
    "trainer.torch_threads",
    "trainer.progress_every_s",
    "trainer.resume",
    "tracking.outage_limit_s",
)
CONFIG_HASH_TAG = "dqnlab.config_hash"
CHECKPOINT_TAG = "dqnlab.checkpoint"


@dataclass(frozen=True)
class ResumePoint:
    """A run to continue: its id, checkpoint file and contents, and its own config."""

    run_id: str
    path: Path
    checkpoint: dict[str, Any]
    config: DictConfig


def config_hash(cfg: DictConfig) -> str:
    """A fingerprint of everything that shapes a run (not the runtime keys)."""
    return hashlib.sha256(_without_runtime_keys(cfg).encode()).hexdigest()[:16]


def _without_runtime_keys(cfg: DictConfig) -> str:
    plain = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    for key in RUNTIME_KEYS:
        parent, _, name = key.rpartition(".")
        node = OmegaConf.select(plain, parent) if parent else plain
        if isinstance(node, DictConfig):
            node.pop(name, None)
    return OmegaConf.to_yaml(plain, sort_keys=True)


def find_resume_point(cfg: DictConfig, overrides: Sequence[str]) -> ResumePoint | None:
    """The run `trainer.resume` names (a run id, a checkpoint path, or auto), checked.

    `auto` picks the newest unfinished run of the same config that left a checkpoint, and
    starts a new run when there is none. A named run continues with its own config;
    `overrides` that would change it are refused.
    """
    ref = cfg.trainer.resume
    if ref is None:
        return None
    uri = cfg.tracking.uri or mlflow.get_tracking_uri()
    if ref == "auto" and local_store_missing(uri):
        log.info("trainer.resume=auto: no MLflow store yet; starting a new run")
        return None
    require_existing_store(uri)  # a lookup in a missing store would create it
    client = MlflowClient(tracking_uri=uri)
    if ref == "auto":
        found = _newest_unfinished(client, cfg)
        if found is None:
            log.info("trainer.resume=auto: no unfinished run of this config; starting a new one")
            return None
        run_id, path = found
    elif _checkpoint_file(ref).is_file():
        path = _checkpoint_file(ref)
        run_id = str(_load(path).get("run_id", ""))
    else:
        run_id, path = ref, _checkpoint_of_run(client, cfg, ref)
    checkpoint = _load(path)
    run_config = OmegaConf.create(checkpoint["config"])
    _check_overrides(cfg, run_config, overrides)
    _check_unfinished(client, run_id, ref)
    with open_dict(run_config):
        for key in RUNTIME_KEYS:
            OmegaConf.update(run_config, key, OmegaConf.select(cfg, key), merge=False)
    return ResumePoint(run_id, path, checkpoint, run_config)


def _checkpoint_file(ref: str) -> Path:
    path = Path(ref)
    return path / "checkpoint.pt" if path.is_dir() else path


def _load(path: Path) -> dict[str, Any]:
    try:
        checkpoint = load_checkpoint(path)
    except Exception as exc:  # unreadable, truncated, not a checkpoint
        raise ConfigError(f"trainer.resume: {path} is not a readable checkpoint: {exc}") from None
    if "loop" not in checkpoint or "config" not in checkpoint:
        raise ConfigError(
            f"trainer.resume: {path} holds weights only (written before resumable "
            "checkpoints): it can be evaluated, not resumed"
        )
    return checkpoint


def _newest_unfinished(client: MlflowClient, cfg: DictConfig) -> tuple[str, Path] | None:
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.`{CONFIG_HASH_TAG}` = '{config_hash(cfg)}' and attributes.status != 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    for run in runs:
        path = Path(run.data.tags.get(CHECKPOINT_TAG, ""))
        if path.is_file():
            return run.info.run_id, path
    return None


def _checkpoint_of_run(client: MlflowClient, cfg: DictConfig, run_id: str) -> Path:
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ConfigError(
            f"trainer.resume={run_id!r} is neither a checkpoint file nor a run id of the "
            f"tracking store: use a run id, a checkpoint path, or auto"
        ) from None
    default = Path(cfg.trainer.checkpoint_dir) / run_id / "checkpoint.pt"
    path = Path(run.data.tags.get(CHECKPOINT_TAG, default))
    if not path.is_file():
        raise ConfigError(f"trainer.resume={run_id!r}: its checkpoint {path} does not exist")
    return path


def _check_unfinished(client: MlflowClient, run_id: str, ref: str) -> None:
    try:
        status = client.get_run(run_id).info.status
    except MlflowException:
        raise ConfigError(
            f"trainer.resume={ref!r}: its run {run_id!r} is not in the tracking store"
        ) from None
    if status == "FINISHED":
        raise ConfigError(f"trainer.resume={ref!r}: run {run_id} already FINISHED")


def _check_overrides(cfg: DictConfig, run_config: DictConfig, overrides: Sequence[str]) -> None:
    """A resumed run keeps its config: an override that changes it is an error."""
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in RUNTIME_KEYS or key.startswith("hydra"):
            continue
        given, recorded = (_plain(OmegaConf.select(c, key)) for c in (cfg, run_config))
        if given != recorded:
            raise ConfigError(
                f"{override} differs from the resumed run's {key}={recorded!r}: "
                "a resumed run keeps its config (drop the override)"
            )


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, Container) else value
