"""The study's parent MLflow run: settings, best value and params as they evolve, plots."""

import logging
import tempfile
import time
from pathlib import Path

import optuna
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from dqnlab.sweep.study_plots import write_study_report
from dqnlab.tracking.experiments import use_experiment

log = logging.getLogger(__name__)

PARENT_ATTR = "mlflow_parent_run_id"


def open_parent_run(
    study: optuna.Study,
    experiment: str,
    params: dict[str, str],
    tags: dict[str, str],
    config_yaml: str,
) -> str:
    """The study's parent run id: created with the study's settings once, reopened after."""
    client = MlflowClient()
    run_id = study.user_attrs.get(PARENT_ATTR)
    if run_id is not None:
        client.update_run(run_id, status="RUNNING")
        return run_id
    experiment_id = use_experiment(experiment)
    run = client.create_run(
        experiment_id,
        run_name=f"study-{study.study_name}",
        tags=tags | {"optuna.study": study.study_name, "optuna.role": "study"},
    )
    run_id = run.info.run_id
    client.log_batch(run_id, params=[Param(k, v[:6000]) for k, v in params.items()])
    client.log_text(run_id, config_yaml, "sweep_config.yaml")
    study.set_user_attr(PARENT_ATTR, run_id)
    return run_id


class StudyRecorder:
    """Optuna callback: trial counts and best value on the parent run; plots on a new best."""

    def __init__(self, parent_run_id: str) -> None:
        self.parent_run_id = parent_run_id
        self.client = MlflowClient()

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        trials = study.get_trials(deepcopy=False)
        counts = {state: sum(t.state == state for t in trials) for state in TrialState}
        metrics = {
            "trials/complete": counts[TrialState.COMPLETE],
            "trials/pruned": counts[TrialState.PRUNED],
            "trials/failed": counts[TrialState.FAIL],
        }
        best = _best_trial(study)  # read after `trials`: it knows at least their results
        if best is not None:
            metrics["best_value"] = best.value
        # Study-wide values are stepped by the trials finished so far, not by this trial's
        # number: workers finish trials out of order, and MLflow shows a metric's value at
        # its highest step, which must be the newest.
        finished = sum(counts[state] for state in TrialState if state.is_finished())
        now = _now_ms()
        points = [Metric(k, float(v), now, finished) for k, v in metrics.items()]
        if trial.state == TrialState.COMPLETE:
            points.append(Metric("trial/value", float(trial.value), now, trial.number))
        self.client.log_batch(self.parent_run_id, metrics=points)
        if best is not None and best.number == trial.number:
            self.client.set_tag(self.parent_run_id, "best.trial", str(best.number))
            for path, value in best.params.items():
                self.client.set_tag(self.parent_run_id, f"best.{path}", str(value))
            self.log_report(study)

    def log_report(self, study: optuna.Study) -> None:
        """Plots and trials.csv under the parent run's `study/` artifacts."""
        with tempfile.TemporaryDirectory() as folder:
            write_study_report(study, Path(folder))
            self.client.log_artifacts(self.parent_run_id, folder, "study")

    def close(self, study: optuna.Study, status: str) -> None:
        """A last report, then the parent's status (every worker sets it as it leaves)."""
        try:
            self.log_report(study)
        finally:
            self.client.set_terminated(self.parent_run_id, status)
            log.info("study run %s ended %s", self.parent_run_id, status)


def _best_trial(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)
