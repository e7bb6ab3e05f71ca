"""A sweep worker: join the study, pull trials until the budget is spent, report."""

import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mlflow
import optuna
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from dqnlab.checkpointing.signals import EXIT_RESUMABLE, defer_stop_signals
from dqnlab.sweep.champion import ChampionPromoter
from dqnlab.sweep.composition import group_choices, training_overrides, trial_config
from dqnlab.sweep.objective import TrialObjective
from dqnlab.sweep.parent_run import StudyRecorder, open_parent_run
from dqnlab.sweep.space import baseline, parse_space
from dqnlab.sweep.stale import RetryStaleTrial
from dqnlab.sweep.storage import open_storage, redacted
from dqnlab.sweep.study import (
    OBJECTIVES,
    SweepSettings,
    budget_callbacks,
    build_pruner,
    build_sampler,
    config_summary,
    count,
    open_study,
    space_summary,
)
from dqnlab.tracking.mlflow_run import source_tags
from dqnlab.tracking.server import without_passwords
from dqnlab.tracking.store import ensure_tracking_store

log = logging.getLogger(__name__)

# Hydra launchers that start all workers on one machine with the same GPUs visible.
SHARED_GPU_LAUNCHERS = ("basic", "joblib", "submitit_local")


@dataclass
class OpenSweep:
    """A study joined by this process, with what its trials need."""

    settings: SweepSettings
    study: optuna.Study
    objective: TrialObjective


def open_sweep(
    cfg: DictConfig,
    overrides: Sequence[str],
    worker: int,
    workers: int,
    launcher: str = "basic",
) -> OpenSweep:
    """Join (or create) the study and its parent MLflow run.

    Its own checks (settings, sampler, pruner, storage) run before the first write; run
    `checks.check_sweep` before the first call, so bad input leaves no store, study or run.
    Safe to call from every worker: creation happens once, later calls join.
    """
    settings = SweepSettings.from_config(cfg.sweep)
    space = parse_space(cfg.sweep.space)
    base = training_overrides(overrides)
    first = (
        baseline(trial_config(base), group_choices(base), space)
        if settings.enqueue_baseline
        else {}
    )
    sampler = build_sampler(cfg.sweep.sampler, worker)
    pruner = build_pruner(cfg.sweep.pruner)
    storage = open_storage(
        settings.storage,
        settings.heartbeat_interval,
        settings.grace_period,
        RetryStaleTrial(settings.max_retry),
    )
    study = open_study(storage, settings, sampler, pruner, space, first)
    if cfg.tracking.uri:
        mlflow.set_tracking_uri(cfg.tracking.uri)
    ensure_tracking_store()
    parent_run_id = open_parent_run(
        study,
        cfg.tracking.experiment,
        _study_params(cfg, settings, space),
        source_tags(list(overrides)),
        without_passwords(OmegaConf.to_yaml(cfg, resolve=True)),
    )
    pinned = _worker_overrides(cfg, worker, workers, launcher)
    objective = TrialObjective(base, pinned, space, settings, parent_run_id)
    return OpenSweep(settings, study, objective)


def _study_params(
    cfg: DictConfig, settings: SweepSettings, space: dict[str, BaseDistribution]
) -> dict[str, str]:
    """What the study's parent run records as params (the storage without its password)."""
    return {
        "study_name": settings.study_name,
        "storage": redacted(settings.storage),
        "n_trials": str(settings.n_trials),
        "workers": str(settings.workers),
        "seeds_per_trial": str(settings.seeds_per_trial),
        "objective": OBJECTIVES[settings.objective].format(
            k=settings.objective_last_k, episodes=cfg.trainer.test_episodes
        ),
        "sampler": config_summary(cfg.sweep.sampler),
        "pruner": config_summary(cfg.sweep.pruner),
        "prune_after_decay": str(settings.prune_after_decay),
        "prune_after_steps": str(settings.prune_after_steps),
        **space_summary(space),
    }


def _worker_overrides(cfg: DictConfig, worker: int, workers: int, launcher: str) -> list[str]:
    """Pin a GPU by worker index when the launcher shows every worker the same GPUs (SLURM
    and Ray give each worker its own: CUDA_VISIBLE_DEVICES); share the CPU cores."""
    pinned = []
    gpus = torch.cuda.device_count() if cfg.device in ("auto", "cuda") else 0
    if gpus > 1 and launcher in SHARED_GPU_LAUNCHERS:
        pinned.append(f"device=cuda:{worker % gpus}")
    if cfg.trainer.torch_threads is None and launcher in SHARED_GPU_LAUNCHERS:
        cores = len(os.sched_getaffinity(0))  # a SLURM job sees only its own cores
        pinned.append(f"trainer.torch_threads={max(1, cores // workers)}")
    return pinned


def run_worker(cfg: DictConfig) -> float | None:
    """Hydra's task for `src/sweep.py`: one worker (several under `-m`); the best value so far.

    Ctrl-C and SIGTERM are deferred to safe points (each training step, each trial start),
    and so is the SIGUSR2 submitit sends a SLURM job ahead of its time limit: the worker
    re-queues its trial as after SIGTERM, then lets submitit requeue the job.
    Under a launcher, a worker stopped that way closes its trial and runs and returns:
    raising would make joblib kill the other workers in the middle of their own clean-up,
    and so would a worker that finished its job dying of a late signal: under a launcher the
    signals stay deferred after the job. The launching process exits with status 130 after
    Ctrl-C, EXIT_RESUMABLE after SIGTERM.
    """
    hydra_cfg = HydraConfig.get()
    launched = hydra_cfg.mode == RunMode.MULTIRUN
    timed_by_submitit = os.environ.get("SUBMITIT_EXECUTOR") == "slurm"
    stop_signals = (signal.SIGINT, signal.SIGTERM, *([signal.SIGUSR2] if timed_by_submitit else []))
    deferred = defer_stop_signals(*stop_signals, restore=not launched)
    try:
        with deferred:
            sweep = open_sweep(
                cfg,
                list(hydra_cfg.overrides.task),
                cfg.worker,
                cfg.sweep.workers if launched else 1,
                hydra_cfg.runtime.choices.get("hydra/launcher", "basic"),
            )
            return _pull_trials(sweep, cfg.worker)
    except KeyboardInterrupt as stop:
        if not launched:
            raise
        log.info("worker %d stopped by %s", cfg.worker, stop)
        if getattr(stop, "signum", None) == signal.SIGUSR2:
            requeue_submitit_job(deferred.handler_before(signal.SIGUSR2))
        return None


def _pull_trials(sweep: OpenSweep, worker: int) -> float | None:
    """Run trials until the budget is spent; close the study's run when the study is done."""
    study, n_trials = sweep.study, sweep.settings.n_trials
    recorder = StudyRecorder(sweep.objective.parent_run_id)
    status: str | None = "FAILED"  # None: other workers still run trials, they close the run
    try:
        if count(study) < n_trials:
            study.optimize(
                sweep.objective,
                callbacks=[
                    *budget_callbacks(n_trials),
                    recorder,
                    ChampionPromoter(sweep.settings.registered_model),
                ],
                catch=(Exception,),
            )
        if count(study, (TrialState.FAIL,)) >= n_trials:
            status = "FAILED"
        else:
            status = "FINISHED" if count(study) >= n_trials else None
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if status is not None:
            recorder.close(study, status)
    best = study.best_value if count(study, (TrialState.COMPLETE,)) else None
    log.info(
        "worker %d leaves study %s: %d/%d trials finished, best value %s",
        worker,
        study.study_name,
        count(study),
        n_trials,
        best,
    )
    return best


def requeue_submitit_job(submitit_handler: Any) -> None:
    """Hand a SIGUSR2 on to submitit once the worker has checkpointed and re-queued its
    trial: submitit requeues this SLURM job (at most `max_num_timeout` times) and exits."""
    try:
        submitit_handler(signal.SIGUSR2, None)
    except subprocess.CalledProcessError:  # SLURM is already requeueing it (preemption)
        log.info("SLURM requeues this job itself")
    # Leave no result behind: the launcher would read the job as done.
    os._exit(EXIT_RESUMABLE)
