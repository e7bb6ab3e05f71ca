"""The agent: Q-networks, the learner (TD targets, loss, target sync) and exploration."""
