"""A sweep's input checked before any store, study, run or worker exists.

Loads no torch or MLflow, so bad input is refused in about a second.
"""

from collections.abc import Sequence

from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from dqnlab.config.checks import check_config
from dqnlab.config.cli import CONF_DIR
from dqnlab.envs.factory import inspect_env
from dqnlab.errors import ConfigError
from dqnlab.sweep.composition import training_overrides, trial_config
from dqnlab.sweep.space import as_override, bounds, parse_space
from dqnlab.sweep.storage import check_reachable, storage_url
from dqnlab.sweep.study import SweepSettings, build_pruner, build_sampler
from dqnlab.tracking.server import check_server

_ABSENT = object()


def check_sweep(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """The settings (the `test` objective needs test episodes), the sampler, the pruner, the
    space and the storage: a database server must answer (an SQLite file is created when the
    study is opened, in `open_sweep`)."""
    settings = SweepSettings.from_config(cfg.sweep)
    if settings.objective == "test" and cfg.trainer.test_episodes < 1:
        raise ConfigError(
            f"trainer.test_episodes={cfg.trainer.test_episodes} is not allowed with "
            "sweep.objective=test: expected an integer >= 1 (or sweep.objective=last_k)"
        )
    storage_url(settings.storage)
    build_sampler(cfg.sweep.sampler, worker=0)
    build_pruner(cfg.sweep.pruner)
    check_space(cfg, overrides)
    check_reachable(settings.storage)
    check_server(cfg.tracking.uri)


def check_space(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Every searched path exists and every bound gives a training config that passes checks.

    It composes a config per bound (seconds in all): run once per sweep command, not per
    worker.
    """
    space = parse_space(cfg.sweep.space)
    base = training_overrides(overrides)
    searched_on_cli = [o.split("=", 1)[0] for o in base if o.split("=", 1)[0] in space]
    if searched_on_cli:
        raise ConfigError(
            f"{searched_on_cli[0]} is both set on the command line and searched by sweep.space: "
            "drop one of them"
        )
    training = trial_config(base)
    for path, distribution in space.items():
        is_group = (CONF_DIR / path).is_dir()
        if not is_group and OmegaConf.select(training, path, default=_ABSENT) is _ABSENT:
            parent = path.rpartition(".")[0]
            known = OmegaConf.select(training, parent) if parent else training
            keys = sorted(known) if isinstance(known, DictConfig) else []
            raise ConfigError(
                f"sweep.space.{path}: {path} is not a key of the training config "
                f"(keys of '{parent}': {keys})"
            )
        for value in bounds(distribution):
            where = f"sweep.space.{path}={value!r}"
            try:
                check_config(trial_config([*base, as_override(path, value)]))
            except HydraException as exc:
                raise ConfigError(f"{where}: {' '.join(str(exc).split())}") from None
            except ConfigError as exc:
                raise ConfigError(f"{where} gives a bad training config: {exc}") from None
    inspect_env(training.env.id, OmegaConf.to_container(training.env.kwargs, resolve=True))
