"""Lets Hydra outside the entry scripts (DVC's `exp run -S`) find the config schemas."""

from dqnlab.config.schema import register_schemas

register_schemas()
