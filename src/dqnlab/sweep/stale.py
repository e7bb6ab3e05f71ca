"""Trials of a worker that died (killed, preempted): close their runs, queue them again."""

import warnings

import optuna
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial

RUN_ID_ATTR = "mlflow_run_id."  # trial user attrs: mlflow_run_id.<seed index> = run id


class RetryStaleTrial:
    """Optuna's heartbeat callback: fail the trial's open MLflow runs, then re-queue the trial.

    Optuna has already marked the trial FAIL when this runs; the retry is a new WAITING
    trial with the same parameters (Optuna's RetryHeartbeatStaleTrialCallback).
    """

    def __init__(self, max_retry: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # since 2.8
            self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        client = MlflowClient()
        for key, run_id in trial.user_attrs.items():
            if key.startswith(RUN_ID_ATTR) and client.get_run(run_id).info.status == "RUNNING":
                client.set_tag(run_id, "error", "its sweep worker stopped (no heartbeat)")
                client.set_terminated(run_id, "FAILED")
        self.retry(study, trial)
