"""Every option of every config group composes and instantiates; key names are stable;
the schemas reject unknown keys and wrong types at composition, the checks bad values."""

import re
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra._internal.utils import _locate
from hydra.utils import instantiate
from omegaconf import OmegaConf

from dqnlab.agent.learner import LOSSES, DQNLearner
from dqnlab.agent.networks import ACTIVATIONS
from dqnlab.config import cli
from dqnlab.config.checks import check_config, check_targets
from dqnlab.config.cli import CONF_DIR, composition_error
from dqnlab.config.instantiation import MOVED_TARGETS, current_target
from dqnlab.config.schema.rules import RULE, OneOf
from dqnlab.config.schema.sweep import SweepSettingsConf
from dqnlab.config.schema.training import AgentConf, MLPNetworkConf, ScheduleExplorationConf
from dqnlab.envs.factory import inspect_env
from dqnlab.errors import ConfigError
from dqnlab.schedules import DECAYS
from dqnlab.sweep.definitions import register_sweep_definitions
from dqnlab.sweep.study import OBJECTIVES

GROUPS = ("env", "network", "buffer", "exploration", "agent", "trainer", "tracking")

INTERFACE_KEYS = (
    "agent.lr",
    "agent.gamma",
    "agent.batch_size",
    "agent.target_sync_period",
    "exploration.decay_steps",
    "buffer.capacity",
    "trainer.total_steps",
    "trainer.eval_every",
    "trainer.eval_episodes",
    "trainer.checkpoint_every",
    "agent.double_q",
    "agent.n_step",
    "network.dueling",
    "network.noisy",
    "seed",
    "device",
)


# Options the default env (vector observations) cannot feed, with an env that can.
ENV_FOR = {"network=nature_cnn": "env=atari"}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_passes_checks(compose_config, group: str, option: str) -> None:
    choice = f"{group}={option}"
    cfg = compose_config(choice, *([ENV_FOR[choice]] if choice in ENV_FOR else []))
    check_config(cfg)
    spaces = inspect_env(cfg.env.id, cfg.env.kwargs)
    net = instantiate(cfg.network, obs_shape=spaces.obs_shape, n_actions=spaces.n_actions)
    assert net(torch.zeros(2, *spaces.obs_shape)).shape == (2, spaces.n_actions)
    buffer = instantiate(cfg.buffer, obs_shape=spaces.obs_shape, obs_dtype=np.float32)
    assert buffer.storage.capacity == cfg.buffer.capacity
    exploration = instantiate(cfg.exploration)
    assert list(exploration.stats(0).values()) == [cfg.exploration.start]
    learner = DQNLearner(
        net,
        instantiate(cfg.agent.optimizer, lr=cfg.agent.lr),
        cfg.agent.loss,
        cfg.agent.max_grad_norm,
        cfg.agent.double_q,
    )
    assert learner.optimizer.param_groups[0]["lr"] == cfg.agent.lr


def test_required_groups_and_options_exist() -> None:
    assert {"cartpole", "lunarlander"} <= set(options("env"))
    assert "mlp" in options("network")
    assert {"uniform", "prioritized"} <= set(options("buffer"))
    assert {"epsilon_greedy", "boltzmann"} <= set(options("exploration"))
    assert {"dqn", "rainbow_lite"} <= set(options("agent"))


def test_rainbow_lite_combines_double_dueling_prioritized_and_n_step(compose_config) -> None:
    # 3-step returns, Rainbow's n, unless the env option tunes its own (CartPole: 8).
    for env, n_step in (("cartpole", 8), ("lunarlander", 3)):
        cfg = compose_config("agent=rainbow_lite", f"env={env}")
        check_config(cfg)
        assert cfg.agent.double_q and cfg.network.dueling and cfg.agent.n_step == n_step
        assert cfg.buffer._target_ == "dqnlab.replay.buffer.PrioritizedReplayBuffer"
        assert cfg.buffer.beta_steps == cfg.trainer.total_steps
        assert cfg.agent.lr == compose_config(f"env={env}").agent.lr  # the env's tuned lr


def test_extensions_compose_with_each_other_and_with_overrides(compose_config) -> None:
    cfg = compose_config(
        "agent=rainbow_lite", "agent.n_step=5", "network.noisy=true", "exploration=boltzmann"
    )
    check_config(cfg)
    assert cfg.agent.n_step == 5  # the command line wins
    assert cfg.network.noisy and cfg.network.dueling
    assert cfg.exploration._target_ == "dqnlab.agent.exploration.Boltzmann"


def test_interface_keys_exist(compose_config) -> None:
    cfg = compose_config()
    for key in INTERFACE_KEYS:
        assert OmegaConf.select(cfg, key) is not None, key


def test_defaults_are_cartpole_and_env_options_carry_tuned_values(compose_config) -> None:
    cartpole, lunar = compose_config(), compose_config("env=lunarlander")
    assert cartpole.env.id == "CartPole-v1"
    assert lunar.env.id == "LunarLander-v3"
    assert lunar.tracking.experiment == "dqn-lunarlander"
    assert cartpole.agent != lunar.agent  # each env brings its own tuned agent settings


def test_command_line_overrides_win_over_env_defaults(compose_config) -> None:
    cfg = compose_config("env=lunarlander", "agent.lr=0.123")
    assert cfg.agent.lr == 0.123


def test_any_gymnasium_id_works_without_code(compose_config) -> None:
    cfg = compose_config("env.id=Acrobot-v1")
    check_config(cfg)
    assert inspect_env(cfg.env.id, {}).n_actions == 3


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ([], "cartpole"),
        (["env=lunarlander"], "lunarlander"),
        (["env=pong"], "pong"),
        (["env.id=Acrobot-v1"], "acrobot"),  # not the default's cartpole
        (["env=atari", "env.id=ALE/SpaceInvaders-v5"], "spaceinvaders"),
        (["env.id=slow_env:SlowCartPole-v0"], "slowcartpole"),
        (["env.id=Acrobot-v1", "env.name=swing"], "swing"),  # set: kept
    ],
)
def test_env_name_follows_the_id_unless_set(compose_config, overrides, name) -> None:
    cfg = compose_config(*overrides)
    assert cfg.env.name == name
    assert cfg.tracking.experiment == f"dqn-{name}"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("agent.lr=0", "agent.lr"),
        ("agent.gamma=1.5", "agent.gamma"),
        ("exploration.end=2", "exploration.end"),
        ("trainer.total_steps=-5", "trainer.total_steps"),
        ("agent.loss=l1", "agent.loss"),
        ("agent.max_grad_norm=0", "agent.max_grad_norm"),
        ("buffer.capacity=8", "buffer.capacity"),
        ("agent.lr_end=-0.1", "agent.lr_end"),
        ("agent.n_step=0", "agent.n_step"),
        ("network.noisy_sigma0=0", "network.noisy_sigma0"),
        ("exploration=boltzmann exploration.end=0", "exploration.end"),
        ("buffer=prioritized buffer.alpha=1.5", "buffer.alpha"),
        ("buffer=prioritized buffer.beta_start=-1", "buffer.beta_start"),
        ("buffer=prioritized buffer.beta_steps=0", "buffer.beta_steps"),
        ("buffer=prioritized buffer.priority_eps=0", "buffer.priority_eps"),
        ("agent.lr=???", "agent.lr has no value"),
        ("seed=-1", "seed=-1 is not allowed: expected an integer in [0, 4294967295]"),
        ("network.hidden_sizes=[64,0]", "network.hidden_sizes=[64, 0] is not allowed"),
        ("network.activation=sigmoid", "network.activation='sigmoid' is not allowed: use one"),
        ("buffer.storage=rows", "buffer.storage='rows' is not allowed"),
        ("exploration.decay=cosine", "exploration.decay='cosine' is not allowed"),
        ("exploration.decay=exponential exploration.end=0", "exploration.decay=exponential"),
        (
            "trainer.torch_threads=0",
            "trainer.torch_threads=0 is not allowed: expected an integer > 0 or null",
        ),
        ("trainer.vectorization_mode=threads", "trainer.vectorization_mode"),
        ("tracking.flush_every_s=-1", "tracking.flush_every_s"),
        (
            "agent.optimizer._target_=torch.optim.Nope",
            "agent.optimizer._target_='torch.optim.Nope' cannot be imported",
        ),
        (
            "+agent.optimizer.momentum=0.9",
            "agent.optimizer.momentum is not an argument of torch.optim.Adam",
        ),
        ("network._target_=dqnlab.agent.networks.Nope", "network._target_"),
        ("+exploration.foo=1", "exploration.foo is not an argument of"),
    ],
)
def test_check_config_names_the_bad_key(compose_config, override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        cfg = compose_config(*override.split(" "))
        check_config(cfg)
        check_targets(cfg)


def test_every_choice_a_schema_allows_is_implemented() -> None:
    """The schemas own the allowed names; each must have an implementation, and back."""
    choices = {
        spec.name: spec.metadata[RULE].options
        for schema in (AgentConf, MLPNetworkConf, ScheduleExplorationConf, SweepSettingsConf)
        for spec in fields(schema)
        if isinstance(spec.metadata.get(RULE), OneOf)
    }
    assert set(choices["loss"]) == set(LOSSES)
    assert set(choices["activation"]) == set(ACTIVATIONS)
    assert set(choices["decay"]) == set(DECAYS)
    assert set(choices["objective"]) == set(OBJECTIVES)


def test_recorded_class_paths_of_older_versions_still_build() -> None:
    for old, new in MOVED_TARGETS.items():
        assert current_target(old) == new
        assert callable(_locate(new))


def test_temperatures_above_one_are_fine_for_boltzmann_only(compose_config) -> None:
    check_config(compose_config("exploration=boltzmann", "exploration.start=10"))
    with pytest.raises(ConfigError, match=r"exploration\.start"):
        check_config(compose_config("exploration.start=10"))


@pytest.mark.parametrize(
    ("config", "override", "message"),
    [
        ("config", "agent.lr=fast", "agent.lr='fast' is not allowed: expected a number"),
        (
            "config",
            "agent.batch_size=2.5",
            "agent.batch_size=2.5 is not allowed: expected an integer",
        ),
        (
            "config",
            "agent.max_grad_norm=true",
            "agent.max_grad_norm=True is not allowed: expected a number or null",
        ),
        (
            "config",
            "agent.double_q=maybe",
            "agent.double_q='maybe' is not allowed: expected true or false",
        ),
        (
            "config",
            "network.hidden_sizes=[64,wide]",
            "network.hidden_sizes[1]='wide' is not allowed: expected an integer",
        ),
        ("config", "env.kwargs=5", "env.kwargs=5 is not allowed: expected a mapping"),
        (
            "config",
            "trainer.resume=[1]",
            "trainer.resume=[1] is not allowed: expected a string or null",
        ),
        ("config", "seed=abc", "seed='abc' is not allowed: expected an integer"),
        ("config", "env.idd=x", "env.idd is not a key of 'env': known keys are [id, kwargs, name]"),
        (
            "sweep",
            "sweep.n_trials=many",
            "sweep.n_trials='many' is not allowed: expected an integer",
        ),
        (
            "sweep",
            "sweep.pruner.n_warmup_steps=0.5",
            "sweep.pruner.n_warmup_steps=0.5 is not allowed: expected an integer",
        ),
        ("evaluate", "episodes=ten", "episodes='ten' is not allowed: expected an integer"),
        ("compare", "params=3", "params=3 is not allowed: expected a list of strings or null"),
    ],
)
def test_schemas_reject_wrong_types_at_composition(
    config: str, override: str, message: str
) -> None:
    register_sweep_definitions()  # the sweep group, as src/sweep.py registers it
    assert composition_error(config, [override]) == message


@pytest.mark.parametrize(
    ("option", "line", "bad_line", "message"),
    [
        (
            "agent/dqn",
            "lr: 1.0e-4",
            "learning_rte: 1.0e-4",
            "agent.learning_rte is not a key of 'agent' (in agent/dqn)",
        ),
        (
            "env/cartpole",
            "  batch_size: 128 ",
            "  batch_size: big ",
            "agent.batch_size='big' is not allowed (in env/cartpole): expected an integer",
        ),
        (
            "tracking/mlflow",
            "log_model: true",
            "log_model: [true]",
            "tracking.log_model=[True] is not allowed (in tracking/mlflow): expected true or false",
        ),
    ],
)
def test_schemas_reject_bad_option_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    option: str,
    line: str,
    bad_line: str,
    message: str,
) -> None:
    conf = shutil.copytree(CONF_DIR, tmp_path / "conf")
    path = conf / f"{option}.yaml"
    assert line in path.read_text()
    path.write_text(path.read_text().replace(line, bad_line))
    monkeypatch.setattr(cli, "CONF_DIR", conf)
    error = composition_error("config", [])
    assert error is not None and error.startswith(message), error
