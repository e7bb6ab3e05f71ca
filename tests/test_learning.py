"""CartPole actually learns (greedy eval >= 475): the default config, and the extensions."""

import pytest

from dqnlab.training.run import run


@pytest.mark.slow
def test_default_cartpole_config_reaches_475(compose_config, tracking_uri: str) -> None:
    result = run(compose_config("tracking.log_model=false", "device=cpu"))
    first = result.evals[0].mean
    assert first < 300, "the first evaluation should come before the policy is good"
    assert result.best_eval >= 475, [round(e.mean) for e in result.evals]


@pytest.mark.slow
def test_rainbow_lite_learns_cartpole(compose_config, tracking_uri: str) -> None:
    """Double + dueling + prioritized replay + 3-step returns, together, still learn."""
    result = run(compose_config("agent=rainbow_lite", "tracking.log_model=false", "device=cpu"))
    assert result.evals[0].mean < 475 <= result.best_eval, [round(e.mean) for e in result.evals]
