"""`hydra/launcher=ray`: each job of a multirun (a sweep worker) as one task on an existing
Ray cluster, with its own GPU.

Ray itself is imported only when jobs are launched (Hydra imports every plugin at start-up).
Hydra's own hydra-ray-launcher is not used: it pins cloudpickle<3 (joblib needs >=3), runs
jobs in the directory `ray start` ran in (relative store paths then split a study in two),
refuses to join a running cluster with its default object store size, and leaves the
workers running when the launcher is stopped.
"""

import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from dqnlab.checkpointing.signals import forwarding_stop_signals

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often the launcher looks up finished jobs (and handles signals)
# Environment the workers get from the launching process (Ray tasks inherit the node's):
# MLflow's settings (MLFLOW_TRACKING_URI …) and ours (`${oc.env:DQNLAB_STORAGE}`).
FORWARDED_ENV_PREFIXES = ("MLFLOW_", "DQNLAB_")


@dataclass
class RayLauncherConf:
    """hydra/launcher=ray."""

    _target_: str = "hydra_plugins.dqnlab_ray_launcher.ray_launcher.RayLauncher"
    # The cluster: host:port of its head (`ray start --head` prints it), ray://host:10001
    # (Ray Client), or auto (RAY_ADDRESS, else a head started on this machine).
    address: str = "auto"
    num_gpus: float = 1  # per worker; Ray sets each worker's CUDA_VISIBLE_DEVICES
    num_cpus: float = 1  # per worker
    env_vars: dict[str, str] = field(default_factory=dict)  # set in every worker


ConfigStore.instance().store(
    group="hydra/launcher", name="ray", node=RayLauncherConf, provider="dqnlab"
)


class RayLauncher(Launcher):
    """Starts every job as a Ray task and waits for them; a stop signal cancels them, which
    Ray delivers to each worker as Ctrl-C (it closes its trial and run, then returns)."""

    def __init__(
        self, address: str, num_gpus: float, num_cpus: float, env_vars: dict[str, str]
    ) -> None:
        self.address, self.num_gpus, self.num_cpus = address, num_gpus, num_cpus
        self.env_vars = dict(env_vars)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        import ray

        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        forwarded = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
        ray.init(address=self.address, runtime_env={"env_vars": forwarded | self.env_vars})
        for signum, handler in handlers.items():  # ray.init replaces them
            signal.signal(signum, handler)
        job = ray.remote(num_gpus=self.num_gpus, num_cpus=self.num_cpus)(_run_job)
        refs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("Ray job #%d: %s", idx, " ".join(filter_overrides(overrides)))
            refs.append(
                job.remote(
                    idx,
                    list(overrides),
                    self.hydra_context,
                    self.config,
                    self.task_function,
                    Singleton.get_state(),
                    os.getcwd(),
                )
            )
        with forwarding_stop_signals(lambda _signum: [ray.cancel(ref) for ref in refs]):
            return _wait(ray, refs)


def _wait(ray: Any, refs: list[Any]) -> list[JobReturn]:
    """Each job's return, in launch order; a job cancelled by a stop signal returns none."""
    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S)
    returns = []
    for ref in refs:
        try:
            returns.append(ray.get(ref))
        except ray.exceptions.TaskCancelledError:
            continue
    return returns


def _run_job(
    idx: int,
    overrides: list[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
    launch_dir: str,
) -> JobReturn:
    """One job on a Ray worker, in the directory the sweep was launched from when this
    machine has it (one machine, or a shared file system), so relative paths agree."""
    if Path(launch_dir).is_dir():
        os.chdir(launch_dir)
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, overrides)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        config=sweep_config,
        task_function=task_function,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
