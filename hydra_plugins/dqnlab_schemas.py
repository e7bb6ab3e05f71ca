"""Lets Hydra outside the entry scripts (DVC's `exp run -S`) find the config schemas and
resolvers."""

from dqnlab.config.resolvers import register_resolvers
from dqnlab.config.schema import register_schemas

register_schemas()
register_resolvers()
