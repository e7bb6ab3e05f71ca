"""Command-line helpers shared by the entry scripts."""

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    OmegaConfBaseException,
    ValidationError,
)

from dqnlab.config.resolvers import register_resolvers
from dqnlab.config.schema import register_schemas
from dqnlab.config.schema.describe import expected, field_type, schema_keys
from dqnlab.errors import ConfigError
from dqnlab.tracking.server import check_server

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"

register_schemas()  # every entry script imports this module before Hydra composes
register_resolvers()

T = TypeVar("T")
ConfigCheck = Callable[[DictConfig], None]  # raises ConfigError on a bad value


def composition_error(
    config_name: str, overrides: Sequence[str], check: ConfigCheck | None = None
) -> str | None:
    """Compose `overrides` the way Hydra will, `check` the result, and check that its
    tracking server (if it names one) answers; describe the first problem in one line."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name, overrides=list(overrides))
            if check is not None:
                check(cfg)
            if "tracking" in cfg:
                check_server(cfg.tracking.uri)
            return None
    except ConfigError as exc:
        return str(exc)
    except MissingConfigException as exc:
        group, _, option = (exc.missing_cfg_file or "").rpartition("/")
        allowed = ", ".join(exc.options or [])
        return f"{group}={option} is not an option of '{group}': use one of [{allowed}]"
    except HydraException as exc:
        return _describe(config_name, exc, overrides)
    finally:
        GlobalHydra.instance().clear()


def _describe(config_name: str, exc: HydraException, overrides: Sequence[str]) -> str:
    """A wrong type or an unknown key named with what the schema expects; else Hydra's text."""
    error = exc.__cause__ or exc.__context__  # an error in a config file is only the context
    full_key = getattr(error, "full_key", None)
    in_file = re.match(r"In '([^']+)':", str(exc))
    where = f" (in {in_file[1]})" if in_file else ""
    if isinstance(error, ValidationError) and full_key:
        hint = field_type(error.object_type, error.key, error.ref_type)
        allowed = expected(hint) if hint is not None else str(error.msg).splitlines()[0]
        return f"{full_key}={error.value!r} is not allowed{where}: expected {allowed}"
    if isinstance(error, ConfigKeyError | ConfigAttributeError) and full_key:
        keys = schema_keys(error.object_type) or _composed_keys(config_name, full_key, overrides)
        parent = full_key.rpartition(".")[0]
        known = f"'{parent}'" if parent else "the config"
        return f"{full_key} is not a key of {known}{where}: known keys are [{', '.join(keys)}]"
    return " ".join(str(exc).split())


def _composed_keys(config_name: str, full_key: str, overrides: Sequence[str]) -> list[str]:
    """The keys the parent of `full_key` has once the command line's options are chosen."""
    parent = full_key.rpartition(".")[0]
    choices = [o for o in overrides if (CONF_DIR / o.split("=", 1)[0].lstrip("+~")).is_dir()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        node = compose(config_name, overrides=choices)
    known = OmegaConf.select(node, parent) if parent else node
    return sorted(str(k) for k in known) if isinstance(known, DictConfig) else []


def preflight(
    config_name: str,
    argv: Sequence[str] = tuple(sys.argv[1:]),
    check: ConfigCheck | None = None,
) -> None:
    """Exit with one error line if the command-line overrides do not compose, or if the
    composed config fails `check`.

    Hydra reports composition errors over many lines; plain overrides are checked here
    first, before the entry script loads torch and MLflow (seconds). Multirun sweeps and
    Hydra's own flags and settings are left to Hydra.
    """
    if any(arg in ("-m", "--multirun") for arg in argv):
        return
    overrides = [a for a in argv if not a.startswith("-") and not a.startswith("hydra")]
    try:
        message = composition_error(config_name, overrides, check)
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
