"""A training run: its composition root, the loop, its callbacks and outputs."""
