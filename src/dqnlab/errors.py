"""Errors reported to the user as one line, before any run starts."""


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key and what is allowed."""


class ResumableError(RuntimeError):
    """A run stopped by something outside it (a tracking server gone), after its checkpoint:
    the same command with `trainer.resume` continues it."""
