"""The registered `champion`: the best trial's model, moved only by a better one."""

import logging

import mlflow
import optuna
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

ALIAS = "champion"
RETURN_TAG = "eval_return"


def champion_return(client: MlflowClient, model_name: str) -> float | None:
    """The recorded return of the current champion; None when there is none yet."""
    try:
        version = client.get_model_version_by_alias(model_name, ALIAS)
    except MlflowException:
        return None
    return float(version.tags.get(RETURN_TAG, "-inf"))


class ChampionPromoter:
    """Optuna callback: register a completed trial's model if it beats the champion, then
    point the alias at the best registered version.

    "Better" compares the models' returns as the trials recorded them (`model_return`): the
    test return on unseen episodes, the same ones for every trial, when the sweep tests its
    models; else the best greedy eval return.
    """

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        model_uri = trial.user_attrs.get("model_uri")
        if trial.state != TrialState.COMPLETE or not model_uri:
            return
        eval_return = float(trial.user_attrs["model_eval_return"])
        client = MlflowClient()
        current = champion_return(client, self.model_name)
        if current is not None and eval_return <= current:
            return
        version = mlflow.register_model(
            model_uri,
            self.model_name,
            tags={
                RETURN_TAG: str(eval_return),
                "optuna.study": study.study_name,
                "optuna.trial": str(trial.number),
                "source_run_id": str(trial.user_attrs.get("model_run_id")),
            },
        )
        best = self._point_alias_at_best(client)
        log.info(
            "registered version %s of %s (trial %d, return %.1f); @%s is version %s",
            version.version,
            self.model_name,
            trial.number,
            eval_return,
            ALIAS,
            best,
        )

    def _point_alias_at_best(self, client: MlflowClient) -> str:
        """Set the alias to the best version registered so far; return that version.

        Not simply the new version: workers that read the old champion at the same moment
        each register theirs, and the last one to set the alias would win. Every worker
        pointing it at the best version converges on the best.
        """
        try:
            return self._set_alias_to_best(client)
        except MlflowException:
            # A model's first alias is an insert: when two workers make it at once, one
            # fails on the unique key (worded differently by each database). The alias
            # exists now, so setting it again is an update; any other failure recurs.
            return self._set_alias_to_best(client)

    def _set_alias_to_best(self, client: MlflowClient) -> str:
        best = max(
            client.search_model_versions(f"name='{self.model_name}'"),
            key=lambda v: float(v.tags.get(RETURN_TAG, "-inf")),
        )
        client.set_registered_model_alias(self.model_name, ALIAS, best.version)
        return best.version
