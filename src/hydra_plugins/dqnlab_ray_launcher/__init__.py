"""`hydra/launcher=ray`: a multirun's jobs as tasks on an existing Ray cluster."""
