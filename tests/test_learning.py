"""CartPole actually learns with the default config (the issue's bar: greedy eval >= 475)."""

import pytest

from dqnlab.run import run


@pytest.mark.slow
def test_default_cartpole_config_reaches_475(compose_config, tracking_uri: str) -> None:
    result = run(compose_config("tracking.log_model=false", "device=cpu"))
    first = result.evals[0].mean
    assert first < 300, "the first evaluation should come before the policy is good"
    assert result.best_eval >= 475, [round(e.mean) for e in result.evals]
