"""Search spaces, sweep settings, storage URLs and the trial objective's score."""

import math
import re

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from dqnlab.config.cli import CONF_DIR
from dqnlab.errors import ConfigError
from dqnlab.sweep.composition import group_choices
from dqnlab.sweep.definitions import register_sweep_definitions
from dqnlab.sweep.objective import (
    PruningReporter,
    curve_mean,
    last_k_mean,
    model_return,
    prune_warmup,
    run_score,
)
from dqnlab.sweep.space import as_override, baseline, bounds, parse_space, suggest
from dqnlab.sweep.storage import redacted, storage_url
from dqnlab.sweep.study import SweepSettings, build_pruner
from dqnlab.training.state import EvalPoint, TrainResult


def space(**entries: object):
    return OmegaConf.create(entries)


def test_nested_entries_become_distributions_by_config_path():
    parsed = parse_space(
        space(
            agent={
                "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
                "target_sync_period": {"type": "categorical", "choices": [10, 100]},
            },
            exploration={"decay_steps": {"type": "int", "low": 1000, "high": 5000, "step": 1000}},
        )
    )
    assert parsed == {
        "agent.lr": FloatDistribution(1e-4, 1e-2, log=True),
        "agent.target_sync_period": CategoricalDistribution([10, 100]),
        "exploration.decay_steps": IntDistribution(1000, 5000, step=1000),
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "float", "low": 0.1, "high": 0.01}, "empty or inverted range"),
        ({"type": "int", "low": 5, "high": 5}, "empty or inverted range"),
        ({"type": "categorical", "choices": []}, "choices is empty"),
        ({"type": "normal", "low": 0, "high": 1}, "type='normal' is not allowed"),
        ({"type": "float", "low": 0.1}, "needs both low and high"),
        ({"type": "float", "low": 0.1, "high": 1.0, "lg": True}, "unknown field(s) ['lg']"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "sweep.space.agent.lr"),
        (3, "must be a mapping with a type"),
    ],
)
def test_bad_entries_name_the_path_and_the_problem(entry, message):
    with pytest.raises(ConfigError) as caught:
        parse_space(space(agent={"lr": entry}))
    assert message in str(caught.value)
    assert "sweep.space.agent.lr" in str(caught.value)


def test_empty_space_is_refused():
    with pytest.raises(ConfigError, match=r"sweep\.space is empty"):
        parse_space(space())


def test_suggestions_stay_inside_their_distribution():
    parsed = parse_space(
        space(
            lr={"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            n={"type": "int", "low": 2, "high": 8, "step": 2},
            c={"type": "categorical", "choices": ["a", "b"]},
        )
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = {name: suggest(trial, name, dist) for name, dist in parsed.items()}
        assert 1e-4 <= values["lr"] <= 1e-2
        assert values["n"] in (2, 4, 6, 8)
        assert values["c"] in ("a", "b")
        study.tell(trial, 0.0)
    assert bounds(parsed["n"]) == [2, 8]
    assert bounds(parsed["c"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("path", "value", "override"),
    [
        ("agent.lr", 0.00023, "agent.lr=0.00023"),
        ("agent.lr", 1e-05, "agent.lr=1e-05"),
        ("buffer.capacity", 50000, "buffer.capacity=50000"),
        ("agent.double_q", True, "agent.double_q=true"),
        ("buffer", "uniform", "buffer=uniform"),
        ("network.hidden_sizes", "[64,64]", "network.hidden_sizes=[64,64]"),
        ("agent.max_grad_norm", None, "agent.max_grad_norm=null"),
    ],
)
def test_values_become_hydra_overrides(path, value, override):
    assert as_override(path, value) == override


def test_last_k_mean_is_the_mean_of_the_last_k_evaluations():
    means = [(1, 10), (2, 500), (3, 20), (4, 30)]
    evals = [EvalPoint(step, 0.0, mean, 0.0, 0.0) for step, mean in means]
    assert last_k_mean(evals, 3) == pytest.approx((500 + 20 + 30) / 3)
    assert last_k_mean(evals[:1], 3) == 10
    assert math.isclose(last_k_mean(evals, 1), 30)


@pytest.mark.parametrize(
    ("objective", "test_return", "score", "kept_model_return"),
    [
        ("test", 250.0, 250.0, 250.0),  # the best model on unseen episodes
        ("last_k", 250.0, (20 + 30) / 2, 250.0),  # how training ended; promotion by the test
        ("last_k", None, (20 + 30) / 2, 500.0),  # untested: the best eval, optimistic
        # The curve's area over steps 1-3 (trapezoids), divided by the 2 steps it spans.
        ("auc", None, ((500 + 20) / 2 + (20 + 30) / 2) / 2, 500.0),
    ],
)
def test_a_run_scores_its_test_return_or_its_last_evaluations(
    objective, test_return, score, kept_model_return
):
    evals = [EvalPoint(step, 0.0, mean, 0.0, 0.0) for step, mean in [(1, 500), (2, 20), (3, 30)]]
    result = TrainResult(evals=evals, test_return=test_return)
    checked = SweepSettings.from_config(
        OmegaConf.create(settings(objective=objective, objective_last_k=2))
    )
    assert run_score(result, checked) == pytest.approx(score)
    assert model_return(result) == kept_model_return


def test_curve_mean_weighs_each_evaluation_by_the_steps_around_it():
    # Uneven spacing: the 100 held from step 0 to 9,000 outweighs the 0 at 10,000.
    evals = [
        EvalPoint(step, 0.0, mean, 0.0, 0.0) for step, mean in [(0, 100), (9000, 100), (10000, 0)]
    ]
    assert curve_mean(evals) == pytest.approx((9000 * 100 + 1000 * 50) / 10000)
    assert curve_mean(evals[:1]) == 100  # one evaluation: its own level


def test_pruning_reporter_reports_the_last_k_mean_so_far_and_prunes_between_warmup_and_end():
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1e9)
    )
    trial = study.ask()
    # The second of two seeds, 3,000 steps each: its steps report at 3,000 + step.
    reporter = PruningReporter(
        trial, step_offset=3000, warmup_steps=2000, last_k=2, trial_steps=6000
    )
    evals = [EvalPoint(step, 0.0, mean, 0.0, 0.0) for step, mean in [(1000, 5.0), (2000, 7.0)]]
    assert reporter(evals[:1]) is False  # inside the warm-up: never pruned
    assert reporter(evals) is True
    evals.append(EvalPoint(3000, 0.0, 15.0, 0.0, 0.0))
    assert reporter(evals) is False  # the trial's last eval: it completes instead
    # Each value is what last_k_mean would score the run at that eval: the last 2 evals.
    assert study.trials[0].intermediate_values == {4000: 5.0, 5000: 6.0, 6000: 11.0}


def settings(**changes: object) -> dict:
    values = {
        "study_name": "s",
        "storage": "sqlite:///optuna.db",
        "registered_model": "m",
        "n_trials": 4,
        "workers": 2,
        "seeds_per_trial": 1,
        "objective": "last_k",
        "objective_last_k": 3,
        "prune_after_decay": 0.75,
        "prune_after_steps": 0,
        "heartbeat_interval": 30,
        "grace_period": 120,
        "max_retry": 2,
        "enqueue_baseline": True,
    }
    return values | changes


@pytest.mark.parametrize(
    ("exploration", "after_steps", "warmup"),
    [
        ({"decay_steps": 20000}, 0, 1000 + 15000),  # learning starts + 0.75 of the decay
        ({"decay_steps": 20000}, 40000, 40000),  # prune_after_steps is later
        ({"decay_steps": 80000}, 40000, 1000 + 60000),  # the decay is later
        ({}, 0, 1000),  # a schedule without a decay: learning starts alone
    ],
)
def test_prune_warmup_is_the_later_of_the_decay_and_prune_after_steps(
    exploration: dict, after_steps: int, warmup: int
) -> None:
    cfg = OmegaConf.create({"agent": {"learning_starts": 1000}, "exploration": exploration})
    checked = SweepSettings.from_config(OmegaConf.create(settings(prune_after_steps=after_steps)))
    assert prune_warmup(cfg, checked) == warmup


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_trials": 0}, "sweep.n_trials=0 is not allowed"),
        ({"workers": 1.5}, "sweep.workers=1.5 is not allowed"),
        ({"seeds_per_trial": True}, "sweep.seeds_per_trial=True"),
        ({"prune_after_decay": 1.5}, "sweep.prune_after_decay=1.5"),
        ({"prune_after_steps": -1}, "sweep.prune_after_steps=-1"),
        ({"max_retry": -1}, "sweep.max_retry=-1"),
        ({"grace_period": 30}, "sweep.grace_period=30 is not allowed"),
        ({"study_name": ""}, "sweep.study_name=''"),
        ({"enqueue_baseline": "yes"}, "sweep.enqueue_baseline='yes'"),
        (
            {"objective": "final"},
            "sweep.objective='final' is not allowed: use one of ['test', 'last_k', 'auc']",
        ),
    ],
)
def test_bad_sweep_settings_are_refused(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        SweepSettings.from_config(OmegaConf.create(settings(**changes)))


def test_postgres_urls_use_the_installed_driver_and_hide_passwords():
    assert storage_url("postgresql://u:secret@db/optuna").drivername == "postgresql+psycopg"
    assert storage_url("sqlite:///optuna.db").drivername == "sqlite"
    assert "secret" not in redacted("postgresql://u:secret@db/optuna")
    with pytest.raises(ConfigError, match="is not a database URL"):
        storage_url("optuna.db")


def test_baseline_takes_the_config_values_that_lie_in_the_space():
    parsed = parse_space(
        space(
            agent={
                "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
                "batch_size": {"type": "categorical", "choices": [32, 64]},
                "gamma": {"type": "float", "low": 0.9, "high": 0.95},
            },
            exploration={"decay_steps": {"type": "int", "low": 1000, "high": 9000, "step": 2000}},
        )
    )
    agent = {"lr": 3e-4, "batch_size": 128, "gamma": 0.99}
    cfg = OmegaConf.create({"agent": agent, "exploration": {"decay_steps": 5000}})
    assert baseline(cfg, {}, parsed) == {"agent.lr": 3e-4, "exploration.decay_steps": 5000}
    cfg.exploration.decay_steps = 4000  # between two steps of the grid
    assert "exploration.decay_steps" not in baseline(cfg, {}, parsed)


@pytest.mark.parametrize(
    ("overrides", "buffer", "exploration"),
    [
        ([], "uniform", "epsilon_greedy"),
        (["agent=rainbow_lite", "exploration=boltzmann"], "prioritized", "boltzmann"),
    ],
)
def test_baseline_of_a_searched_group_is_the_option_the_config_chose(
    overrides: list[str], buffer: str, exploration: str
) -> None:
    """sweep=extensions searches `buffer` and `exploration`: the baseline trial must run the
    composed config's options (an env default, or one an agent option pulls in)."""
    register_sweep_definitions()
    GlobalHydra.instance().clear()
    base = ["sweep=extensions", *overrides]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("sweep", overrides=base)
        first = baseline(cfg, group_choices(base), parse_space(cfg.sweep.space))
    GlobalHydra.instance().clear()
    assert first["buffer"] == buffer
    assert first["exploration"] == exploration
    assert first["agent.n_step"] == cfg.agent.n_step
    assert first["network.dueling"] is cfg.network.dueling


# LunarLander's defaults when the published sweeps were measured (lr aside).
MEASURED_LUNARLANDER = {"agent.gamma": 0.99, "agent.n_step": 1, "exploration.decay_steps": 12000}


@pytest.mark.parametrize(
    ("definition", "measured"),
    [
        ("lunarlander", {**MEASURED_LUNARLANDER, "agent.lr": 6.3e-4}),
        ("extensions", {**MEASURED_LUNARLANDER, "agent.lr": 6.3e-4}),
        ("lunarlander_defaults", {**MEASURED_LUNARLANDER, "agent.lr": 1e-3}),
        ("cartpole_defaults", {"agent.n_step": 1, "exploration.decay_steps": 8000}),
    ],
)
def test_published_sweeps_keep_the_baseline_they_were_measured_with(
    definition: str, measured: dict[str, float]
) -> None:
    """Their figures in docs/results.md came from a baseline trial at the env's defaults of
    the day; TPE's later trials follow from it, so new env defaults must not move it."""
    register_sweep_definitions()
    GlobalHydra.instance().clear()
    base = [f"sweep={definition}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("sweep", overrides=base)
        first = baseline(cfg, group_choices(base), parse_space(cfg.sweep.space))
    GlobalHydra.instance().clear()
    assert {key: first.get(key, OmegaConf.select(cfg, key)) for key in measured} == measured


def test_patient_pruner_spares_a_climbing_trial_and_stops_a_stalled_one() -> None:
    """pruner=patient asks its median pruner only once a trial's reports stop beating its
    best: a late bloomer below the median while it climbs runs on."""
    register_sweep_definitions()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("sweep", overrides=["pruner=patient"])
    GlobalHydra.instance().clear()
    study = optuna.create_study(direction="maximize", pruner=build_pruner(cfg.sweep.pruner))
    for _ in range(cfg.sweep.pruner.wrapped_pruner.n_startup_trials):
        trial = study.ask()
        for step in range(1, 9):
            trial.report(100.0, step)
        study.tell(trial, 100.0)

    def prunes(values: list[float]) -> list[bool]:
        trial = study.ask()
        decisions = []
        for step, value in enumerate(values, start=1):
            trial.report(value, step)
            decisions.append(trial.should_prune())
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return decisions

    # Below the median (100) at every report: the median pruner alone stops it at once.
    assert not any(prunes([-200.0, -150.0, -100.0, -50.0, 0.0, 50.0, 90.0]))
    first = cfg.sweep.pruner.patience + 1  # reports before one that can show no progress
    assert prunes([50.0, 40.0, 30.0, 20.0, 10.0]) == [False] * first + [True] * (5 - first)
