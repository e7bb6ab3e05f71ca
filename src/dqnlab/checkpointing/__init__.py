"""Checkpoint files, the state they hold, resuming runs and stop signals."""
