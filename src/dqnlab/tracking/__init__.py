"""MLflow: the run tracker, store checks and ranked comparison of runs."""
