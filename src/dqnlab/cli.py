"""Command-line helpers shared by the entry scripts."""

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dqnlab.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

T = TypeVar("T")


def composition_error(config_name: str, overrides: Sequence[str]) -> str | None:
    """Compose `overrides` the way Hydra will; describe the first problem in one line."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            compose(config_name, overrides=list(overrides))
            return None
    except MissingConfigException as exc:
        group, _, option = (exc.missing_cfg_file or "").rpartition("/")
        allowed = ", ".join(exc.options or [])
        return f"{group}={option} is not an option of '{group}': use one of [{allowed}]"
    except HydraException as exc:
        full_key = getattr(exc.__cause__, "full_key", None)
        if full_key:
            return _unknown_key_message(config_name, full_key, overrides)
        return " ".join(str(exc).split())
    finally:
        GlobalHydra.instance().clear()


def _unknown_key_message(config_name: str, full_key: str, overrides: Sequence[str]) -> str:
    """Name the unknown key and list the keys its parent does have."""
    parent = full_key.rpartition(".")[0]
    choices = [o for o in overrides if (CONF_DIR / o.split("=", 1)[0].lstrip("+~")).is_dir()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        node = compose(config_name, overrides=choices)
    known = OmegaConf.select(node, parent) if parent else node
    keys = sorted(str(k) for k in known) if isinstance(known, DictConfig) else []
    where = f"'{parent}'" if parent else "the config"
    return f"{full_key} is not a key of {where}: known keys are [{', '.join(keys)}]"


def preflight(config_name: str, argv: Sequence[str] = tuple(sys.argv[1:])) -> None:
    """Exit with one error line if the command-line overrides do not compose.

    Hydra reports composition errors over many lines; plain overrides are checked here
    first. Multirun sweeps and Hydra's own flags and settings are left to Hydra.
    """
    if any(arg in ("-m", "--multirun") for arg in argv):
        return
    overrides = [a for a in argv if not a.startswith("-") and not a.startswith("hydra")]
    try:
        message = composition_error(config_name, overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        message = " ".join(str(exc).split())
    if message:
        sys.exit(f"error: {message}")


def report_config_errors(task: Callable[[], T]) -> T:
    """Run `task`; a ConfigError becomes one `error: …` line and exit status 1."""
    try:
        return task()
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
