"""Sweep definitions (sweeps/*.yaml) as the Hydra config group `sweep`."""

from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

SWEEPS_DIR = Path(__file__).resolve().parents[3] / "sweeps"


def register_sweep_definitions(sweeps_dir: Path = SWEEPS_DIR) -> list[str]:
    """Make each `sweeps/<name>.yaml` the option `sweep=<name>`; return the names.

    A definition's root keys override the training config (package `_global_`), so it can
    pick the env in its defaults list and set trial budgets next to its `sweep:` section.
    """
    store = ConfigStore.instance()
    names = sorted(path.stem for path in sweeps_dir.glob("*.yaml"))
    for name in names:
        node = OmegaConf.load(sweeps_dir / f"{name}.yaml")
        store.store(group="sweep", name=name, node=node, package="_global_")
    return names
