"""dqnlab: run, tune and compare Deep Q-Network experiments."""
