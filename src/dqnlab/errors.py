"""Errors reported to the user as one line, before any run starts."""


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key and what is allowed."""
