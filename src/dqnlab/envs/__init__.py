"""Environments: making (vector) envs from ids, Atari preprocessing."""
