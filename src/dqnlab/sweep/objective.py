"""One trial: compose its training config, train it on one or more seeds, score it."""

import itertools
import os
import socket
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig
from optuna.distributions import BaseDistribution

from dqnlab.checkpointing.resume import CHECKPOINT_TAG, CONFIG_HASH_TAG, config_hash
from dqnlab.checkpointing.signals import (
    RESUMABLE_SIGNALS,
    StopRequested,
    raise_if_stop_requested,
)
from dqnlab.sweep.composition import trial_config
from dqnlab.sweep.space import as_override, suggest
from dqnlab.sweep.stale import RUN_ID_ATTR
from dqnlab.sweep.study import SweepSettings
from dqnlab.tracking.mlflow_run import RunLabels
from dqnlab.training.run import run
from dqnlab.training.state import EvalPoint, TrainResult

WARMUP_ATTR = "prune_warmup_steps"  # trial attribute: the env step pruning may start at


def last_k_mean(evals: Sequence[EvalPoint], last_k: int) -> float:
    """Mean greedy return of the last `last_k` evaluations: one noisy eval decides nothing."""
    return statistics.fmean(e.mean for e in evals[-last_k:])


def curve_mean(evals: Sequence[EvalPoint]) -> float:
    """The area under the learning curve (greedy eval return against env steps, trapezoids
    between evaluations) divided by the steps it spans: the run's mean level, which rewards
    learning early as much as ending high."""
    if len(evals) == 1:
        return evals[0].mean
    area = sum((b.step - a.step) * (a.mean + b.mean) / 2 for a, b in itertools.pairwise(evals))
    return area / (evals[-1].step - evals[0].step)


def run_score(result: TrainResult, settings: SweepSettings) -> float:
    """One run's share of the objective: `test`, its best model's return on the unseen test
    episodes; `last_k`, the mean of its last `objective_last_k` evaluations; `auc`, the mean
    level of its whole learning curve."""
    if settings.objective == "test":
        assert result.test_return is not None, "checked: sweep.objective=test tests every run"
        return result.test_return
    if settings.objective == "auc":
        return curve_mean(result.evals)
    return last_k_mean(result.evals, settings.objective_last_k)


def model_return(result: TrainResult) -> float:
    """What a run's kept model is compared by for promotion: its test return when it was
    tested (unbiased), else its best eval return (the max over evaluations: optimistic)."""
    return result.best_eval if result.test_return is None else result.test_return


@dataclass
class PruningReporter:
    """Reports the trial's standing so far, the mean of its last `last_k` evals, at each
    eval's env step, so pruners rank trials by a steadier figure than one noisy eval. Asks
    the pruner once past the warm-up, and not at the trial's last evaluation: pruning then
    would save no steps and lose a finished trial's value."""

    trial: optuna.Trial
    step_offset: int  # seed k of a trial reports at k * total_steps + step
    warmup_steps: int
    last_k: int
    trial_steps: int  # env steps of the whole trial (all its seeds)

    def __call__(self, evals: Sequence[EvalPoint]) -> bool:
        step = self.step_offset + evals[-1].step
        self.trial.report(last_k_mean(evals, self.last_k), step)
        return (
            evals[-1].step >= self.warmup_steps
            and step < self.trial_steps
            and self.trial.should_prune()
        )


@dataclass
class TrialObjective:
    """What `study.optimize` calls: a trial's value is the mean of its seeds' scores.

    Seeds are `seed`, `seed + 1`, … for every trial (common random numbers: trials differ
    by their hyperparameters, not by luck of the seed). Each seed is one MLflow run, a child
    of the study's parent run. The best model of the trial's runs is kept for promotion.
    """

    base_overrides: Sequence[str]  # the command line's, applied to every trial
    worker_overrides: Sequence[str]  # device and threads of this worker
    space: dict[str, BaseDistribution]
    settings: SweepSettings
    parent_run_id: str

    def __call__(self, trial: optuna.Trial) -> float:
        raise_if_stop_requested()  # a stop that arrived between trials
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        params = {path: suggest(trial, path, dist) for path, dist in self.space.items()}
        trial_overrides = [as_override(path, value) for path, value in params.items()]
        cfg = trial_config([*self.base_overrides, *trial_overrides, *self.worker_overrides])
        warmup = prune_warmup(cfg, self.settings)
        trial.set_user_attr(WARMUP_ATTR, warmup)
        results: list[TrainResult] = []
        try:
            for index in range(self.settings.seeds_per_trial):
                results.append(self._run_seed(trial, cfg, index, warmup))
                if results[-1].stopped_early:
                    _tag_runs(results, {"optuna.state": "PRUNED"})
                    raise optuna.TrialPruned(f"pruned at seed index {index}")
        except StopRequested as stop:
            if stop.signum in RESUMABLE_SIGNALS:  # preempted: run it again, from its checkpoint
                trial.study.enqueue_trial(trial.params, user_attrs=trial.user_attrs)
            raise
        except (optuna.TrialPruned, KeyboardInterrupt):
            raise
        except Exception as exc:
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}"[:2000])
            raise
        value = statistics.fmean(run_score(r, self.settings) for r in results)
        best = max(results, key=model_return)
        trial.set_user_attr("model_uri", best.model_uri)
        trial.set_user_attr("model_eval_return", model_return(best))
        trial.set_user_attr("model_run_id", best.run_id)
        _tag_runs(results, {"optuna.state": "COMPLETE", "optuna.value": str(value)})
        return value

    def _run_seed(
        self, trial: optuna.Trial, cfg: DictConfig, index: int, warmup: int
    ) -> TrainResult:
        seed_cfg = cfg.copy()
        seed_cfg.seed = cfg.seed + index
        seed_cfg.trainer.resume = _resumable_run(
            trial.user_attrs.get(f"{RUN_ID_ATTR}{index}"), seed_cfg
        )
        name = f"{self.settings.study_name}-t{trial.number}"
        tags = {
            "optuna.study": self.settings.study_name,
            "optuna.trial": str(trial.number),
            "optuna.seed_index": str(index),
        }
        reporter = PruningReporter(
            trial,
            step_offset=index * cfg.trainer.total_steps,
            warmup_steps=warmup,
            last_k=self.settings.objective_last_k,
            trial_steps=self.settings.seeds_per_trial * cfg.trainer.total_steps,
        )
        labels = RunLabels(
            name=f"{name}-s{index}" if self.settings.seeds_per_trial > 1 else name,
            tags=tags,
            parent_run_id=self.parent_run_id,
            on_start=lambda run_id: trial.set_user_attr(f"{RUN_ID_ATTR}{index}", run_id),
        )
        return run(seed_cfg, on_eval=reporter, labels=labels)


def _resumable_run(run_id: str | None, cfg: DictConfig) -> str | None:
    """The run of a failed or stopped earlier attempt of this trial (its user attrs came with
    the retry), when it left a checkpoint of this very config; None trains afresh."""
    if run_id is None:
        return None
    run = MlflowClient().get_run(run_id)
    resumable = (
        run.info.status != "FINISHED"
        and run.data.tags.get(CONFIG_HASH_TAG) == config_hash(cfg)
        and Path(run.data.tags.get(CHECKPOINT_TAG, "")).is_file()
    )
    return run_id if resumable else None


def prune_warmup(cfg: DictConfig, settings: SweepSettings) -> int:
    """The env step a trial may be pruned from: past learning starts and most of the epsilon
    decay (`prune_after_decay`, 0 for a schedule without one), and not before
    `prune_after_steps`."""
    decay_steps = int(cfg.exploration.get("decay_steps", 0))
    after_decay = cfg.agent.learning_starts + int(settings.prune_after_decay * decay_steps)
    return max(settings.prune_after_steps, after_decay)


def _tag_runs(results: Sequence[TrainResult], tags: dict[str, Any]) -> None:
    client = MlflowClient()
    for result in results:
        for key, value in tags.items():
            client.set_tag(result.run_id, key, value)
