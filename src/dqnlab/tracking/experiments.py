"""Our MLflow experiments: opened in the UI's model-training layout, not its GenAI one."""

import mlflow
from mlflow.tracking import MlflowClient

# MLflow 3's UI picks an experiment's layout from this tag; without it, it opens the GenAI
# layout (traces, judges, prompts) and hides the runs table behind a "Model training" click.
KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"


def use_experiment(name: str) -> str:
    """Make `name` the active experiment, created when missing, and return its id.

    An experiment with no kind gets the training kind, so the UI opens on its runs, charts
    and comparison; a kind chosen by hand in the UI is kept.
    """
    experiment = mlflow.set_experiment(name)
    if KIND_TAG not in experiment.tags:
        MlflowClient().set_experiment_tag(experiment.experiment_id, KIND_TAG, TRAINING_KIND)
    return experiment.experiment_id
