"""Optuna sweeps over the training config: workers sharing one study, tracked in MLflow."""
