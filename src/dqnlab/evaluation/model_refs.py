"""Turn a model reference (run id, MLflow URI, checkpoint file) into a network and its config.

The env, its kwargs and the network always come from the training run's own config, so a
model is played in the environment it was trained on.
"""

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import torch
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf
from torch import nn

from dqnlab.checkpointing.files import load_checkpoint
from dqnlab.config.checks import ALLOWED_FORMS
from dqnlab.config.instantiation import build
from dqnlab.envs.factory import inspect_env
from dqnlab.errors import ConfigError
from dqnlab.tracking.store import local_store_missing, require_existing_store

RUN_ID = re.compile(r"[0-9a-f]{32}")  # MLflow run ids are uuid4 hex strings
RUN_URI = re.compile(r"runs:/(?P<run_id>[^/]+)/(?P<path>.+)")
BEST_MODEL = "best_model"
CHECKPOINT_ARTIFACT = "checkpoints/checkpoint.pt"
CONFIG_ARTIFACT = "config.yaml"


@dataclass(frozen=True)
class LoadedModel:
    """A network ready to act, the config it was trained with, and where both came from."""

    q_net: nn.Module
    config: DictConfig
    source_run: Run | None  # the training run, when the tracking store holds it
    origin: str  # one line for people: which weights of which run or file


def load_model(reference: str, device: torch.device) -> LoadedModel:
    """Resolve `reference` (the `model=` value); a bad one raises a one-line ConfigError."""
    if reference.startswith("models:/"):
        return _from_registry(reference, device)
    if reference.startswith("runs:/"):
        match = RUN_URI.fullmatch(reference)
        if match is None:
            raise _bad(reference, "is not of the form runs:/<run id>/<artifact path>")
        run = _get_run(reference, match["run_id"])
        return _mlflow_model(reference, reference, run, device, f"{match['path']} of run")
    path = Path(reference)
    if path.is_file():
        return _from_checkpoint_file(reference, path, device)
    if RUN_ID.fullmatch(reference):
        return _from_run(reference, device)
    raise _bad(reference, "is no file, run id or MLflow URI")


def _from_registry(reference: str, device: torch.device) -> LoadedModel:
    """models:/<name>@<alias>, models:/<name>/<version>, or MLflow 3's models:/<model id>."""
    name, sep, rest = reference.removeprefix("models:/").partition("/")
    require_existing_store(mlflow.get_tracking_uri())
    client = MlflowClient()
    try:
        if "@" in name and not sep:
            name, alias = name.rsplit("@", 1)
            version = client.get_model_version_by_alias(name, alias)
            run_id, what = version.run_id, f"{name} version {version.version} (@{alias}) from run"
        elif sep and rest.isdigit():
            version = client.get_model_version(name, rest)
            run_id, what = version.run_id, f"{name} version {rest} from run"
        elif not sep:
            run_id, what = client.get_logged_model(name).source_run_id, f"model {name} of run"
        else:
            raise _bad(reference, "names no version or alias")
    except MlflowException as exc:
        raise _bad(reference, f"is not in the registry ({_one_line(exc)})") from None
    if not run_id:
        raise _bad(reference, "was logged outside a run: its training config is unknown")
    return _mlflow_model(reference, reference, _get_run(reference, run_id), device, what)


def _from_run(reference: str, device: torch.device) -> LoadedModel:
    """A bare run id: its best model if it logged one, else its final checkpoint."""
    run = _get_run(reference, reference)
    uri = f"runs:/{run.info.run_id}/{BEST_MODEL}"
    # MLflow 3 keeps a run's models apart from its artifacts; a runs:/ URI lists both.
    if mlflow.artifacts.list_artifacts(artifact_uri=uri):
        return _mlflow_model(reference, uri, run, device, "best model of run")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path=CHECKPOINT_ARTIFACT, dst_path=tmp
            )
        except (MlflowException, OSError):
            raise _bad(
                reference, f"run has neither {BEST_MODEL} nor {CHECKPOINT_ARTIFACT}"
            ) from None
        checkpoint = _read_checkpoint(reference, Path(local))
    config = _config_of(reference, run)
    origin = f"final checkpoint of run {run.info.run_id} (the run logged no {BEST_MODEL})"
    return LoadedModel(_rebuild(checkpoint, config, device), config, run, origin)


def _from_checkpoint_file(reference: str, path: Path, device: torch.device) -> LoadedModel:
    """A checkpoint or model.pt: weights and config are both in the file."""
    checkpoint = _read_checkpoint(reference, path)
    config = OmegaConf.create(checkpoint["config"])
    run = _find_run(checkpoint.get("run_id"))
    origin = f"checkpoint file {path}" + (f" of run {run.info.run_id}" if run else "")
    return LoadedModel(_rebuild(checkpoint, config, device), config, run, origin)


def _mlflow_model(
    reference: str, uri: str, run: Run, device: torch.device, what: str
) -> LoadedModel:
    """An MLflow PyTorch model (a torch.export graph, already in eval mode) and its run's config."""
    config = _config_of(reference, run)
    try:
        q_net = mlflow.pytorch.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise _bad(reference, f"cannot be loaded ({_one_line(exc)})") from None
    return LoadedModel(q_net.to(device), config, run, f"{what} {run.info.run_id} ({uri})")


def _read_checkpoint(reference: str, path: Path) -> dict[str, Any]:
    try:
        checkpoint = load_checkpoint(path)
    except Exception:  # torch.load fails in many ways (KeyError, EOFError, …) on other files
        checkpoint = None
    if not isinstance(checkpoint, dict) or not {"q_net", "config"} <= checkpoint.keys():
        raise _bad(reference, "is not a dqnlab checkpoint (a torch file with q_net and config)")
    return checkpoint


def _rebuild(checkpoint: dict[str, Any], config: DictConfig, device: torch.device) -> nn.Module:
    """The training network, built from its config with the env's spaces, holding the weights."""
    env_kwargs = OmegaConf.to_container(config.env.kwargs, resolve=True)
    spaces = inspect_env(config.env.id, env_kwargs)
    q_net = build(config.network, obs_shape=spaces.obs_shape, n_actions=spaces.n_actions)
    q_net.load_state_dict(checkpoint["q_net"])
    return q_net.to(device).eval()


def _config_of(reference: str, run: Run) -> DictConfig:
    try:
        text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/{CONFIG_ARTIFACT}")
    except (MlflowException, OSError):
        raise _bad(reference, f"its run has no {CONFIG_ARTIFACT}: not a dqnlab training") from None
    return OmegaConf.create(text)


def _get_run(reference: str, run_id: str) -> Run:
    try:
        require_existing_store(mlflow.get_tracking_uri())  # a lookup would create it
        return MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise _bad(reference, f"names no run of this tracking store ({_one_line(exc)})") from None


def _find_run(run_id: str | None) -> Run | None:
    """The run a checkpoint file names, if this tracking store has it (files travel)."""
    if not run_id or local_store_missing(mlflow.get_tracking_uri()):
        return None
    try:
        return MlflowClient().get_run(run_id)
    except MlflowException:
        return None


def _bad(reference: str, problem: str) -> ConfigError:
    return ConfigError(f"model={reference!r} {problem}: {ALLOWED_FORMS}")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
