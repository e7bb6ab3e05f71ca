"""Our MLflow experiments, tagged with MLflow's experiment kind for model training."""

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

# MLflow's record of what an experiment holds. MLflow 3.17's UI picks its layout from its
# own GenAI / Model training switch, not from this tag (checked in Chromium; docs/comparing-
# runs.md); the tag still tells any client, and UIs that read it, that these are training runs.
KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"


def use_experiment(name: str) -> str:
    """Make `name` the active experiment, created when missing, and return its id.

    An experiment with no kind gets the training kind; a kind set by hand is kept. Runs
    started together on a new store race to tag it: a write that fails because another
    process tagged the experiment first is not an error.
    """
    experiment = mlflow.set_experiment(name)
    if KIND_TAG not in experiment.tags:
        client = MlflowClient()
        try:
            client.set_experiment_tag(experiment.experiment_id, KIND_TAG, TRAINING_KIND)
        except MlflowException:
            if KIND_TAG not in client.get_experiment(experiment.experiment_id).tags:
                raise
    return experiment.experiment_id
