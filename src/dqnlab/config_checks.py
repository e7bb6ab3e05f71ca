"""Value checks on a composed config, run before any environment, file or MLflow run is made.

Hydra already rejects unknown groups, options and keys at composition, and the schemas
(dqnlab.schema) reject wrong types; these rules catch values of the right type that cannot
work: ranges, choices and rules across keys.
"""

import re
from collections.abc import Callable, Iterable
from numbers import Real

from omegaconf import DictConfig, OmegaConf

from dqnlab.errors import ConfigError

Rule = tuple[str, Callable[[float], bool], str]

POSITIVE_INTS = (
    "agent.batch_size",
    "agent.target_sync_period",
    "agent.train_freq",
    "agent.gradient_steps",
    "agent.n_step",
    "buffer.capacity",
    "exploration.decay_steps",
    "trainer.total_steps",
    "trainer.num_envs",
    "trainer.eval_every",
    "trainer.eval_episodes",
    "trainer.checkpoint_every",
    "trainer.log_every",
)

NUMBER_RULES: tuple[Rule, ...] = (
    ("agent.lr", lambda v: v > 0, "a number > 0"),
    ("agent.gamma", lambda v: 0 < v <= 1, "a number in (0, 1]"),
    ("agent.tau", lambda v: 0 < v <= 1, "a number in (0, 1]"),
    ("agent.learning_starts", lambda v: v >= 0, "an integer >= 0"),
    ("trainer.test_episodes", lambda v: v >= 0, "an integer >= 0"),
    ("network.noisy_sigma0", lambda v: v > 0, "a number > 0"),
    ("trainer.eval_epsilon", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    ("trainer.progress_every_s", lambda v: v > 0, "a number of seconds > 0"),
    ("tracking.plots_every_s", lambda v: v >= 0, "a number of seconds >= 0"),
    *((key, lambda v: v > 0, "an integer > 0") for key in POSITIVE_INTS),
)

# Rules for the keys of one option of a group, applied when its `_target_` is chosen.
OPTION_RULES: dict[str, tuple[Rule, ...]] = {
    "dqnlab.exploration.EpsilonGreedy": (
        ("exploration.start", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
        ("exploration.end", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    ),
    "dqnlab.exploration.Boltzmann": (
        ("exploration.start", lambda v: v > 0, "a temperature > 0"),
        ("exploration.end", lambda v: v > 0, "a temperature > 0"),
    ),
    "dqnlab.replay.PrioritizedReplayBuffer": (
        ("buffer.alpha", lambda v: 0 <= v <= 1, "a number in [0, 1]"),
        ("buffer.beta_start", lambda v: 0 <= v <= 1, "a number in [0, 1]"),
        ("buffer.beta_steps", lambda v: v > 0, "an integer > 0"),
        ("buffer.priority_eps", lambda v: v > 0, "a number > 0"),
    ),
}

NULLABLE_NUMBER_RULES: tuple[Rule, ...] = (
    ("agent.lr_end", lambda v: v >= 0, "a number >= 0 or null"),
    ("agent.max_grad_norm", lambda v: v > 0, "a number > 0 or null"),
    ("trainer.video_every", lambda v: v > 0, "an integer > 0 or null"),
)

CHOICES: dict[str, tuple[str, ...]] = {
    "agent.loss": ("huber", "mse"),
    "exploration.decay": ("linear", "exponential"),
    "trainer.vectorization_mode": ("sync", "async", "vector_entry_point"),
}


DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")

# The evaluate command's config (conf/evaluate.yaml).
ALLOWED_FORMS = (
    "use a run id, runs:/<run id>/best_model, models:/<name>@<alias>, models:/<name>/<version> "
    "or the path of a checkpoint.pt or model.pt"
)
EVALUATE_RULES: tuple[Rule, ...] = (
    ("episodes", lambda v: v >= 1, "an integer >= 1"),
    ("epsilon", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    ("seed", lambda v: v >= 0, "an integer >= 0"),
    ("video_episodes", lambda v: v >= 0, "an integer >= 0"),
)


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first bad key and what it allows."""
    missing = OmegaConf.missing_keys(cfg)
    if missing:
        raise ConfigError(
            f"{sorted(missing)[0]} has no value: set it in its option or on the command line"
        )
    check_device(cfg.device)
    for key, allowed in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not allowed: use one of {list(allowed)}")
    nullable = [
        rule for rule in NULLABLE_NUMBER_RULES if OmegaConf.select(cfg, rule[0]) is not None
    ]
    check_numbers(cfg, (*NUMBER_RULES, *nullable, *_option_rules(cfg)))
    if cfg.buffer.capacity < cfg.agent.batch_size:
        raise ConfigError(
            f"buffer.capacity={cfg.buffer.capacity} is smaller than "
            f"agent.batch_size={cfg.agent.batch_size}: it must hold at least one batch"
        )


def check_evaluate_config(cfg: DictConfig) -> None:
    """The evaluate command's values; the model reference itself is checked as it loads."""
    if OmegaConf.is_missing(cfg, "model"):
        raise ConfigError(f"model= is required: {ALLOWED_FORMS}")
    check_numbers(cfg, EVALUATE_RULES)
    check_device(cfg.device)


def check_device(device: object, key: str = "device") -> None:
    """`auto`, `cpu`, `cuda` or `cuda:<index>`."""
    if not isinstance(device, str) or not DEVICE.fullmatch(device):
        allowed = ["auto", "cpu", "cuda", "cuda:<index>"]
        raise ConfigError(f"{key}={device!r} is not allowed: use one of {allowed}")


def check_numbers(cfg: DictConfig, rules: Iterable[Rule]) -> None:
    """Each rule's key holds a number (never a boolean) that passes the rule."""
    for key, ok, allowed in rules:
        value = OmegaConf.select(cfg, key)
        if isinstance(value, bool) or not isinstance(value, Real) or not ok(value):
            raise ConfigError(f"{key}={value!r} is not allowed: expected {allowed}")


def _option_rules(cfg: DictConfig) -> list[Rule]:
    """The OPTION_RULES of the options `cfg` chose (matched by each group's `_target_`)."""
    return [
        rule
        for target, rules in OPTION_RULES.items()
        for rule in rules
        if OmegaConf.select(cfg, f"{rule[0].rpartition('.')[0]}._target_") == target
    ]
