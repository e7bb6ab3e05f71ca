"""Schemas of the training config (conf/config.yaml) and of each option of its groups."""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from dqnlab.config.schema.rules import one_of, ranged
from dqnlab.schedules import DECAYS

DEVICE = one_of("auto", "cpu", "cuda", pattern=r"cuda:\d+", shown="cuda:<index>")


@dataclass
class TrainConfig:
    """The root: one node per config group (typed by its option's schema), seed and device."""

    network: Any = MISSING
    buffer: Any = MISSING
    exploration: Any = MISSING
    agent: Any = MISSING
    trainer: Any = MISSING
    tracking: Any = MISSING
    env: Any = MISSING
    seed: int = ranged(ge=0, le=2**32 - 1)  # NumPy's seed range
    device: str = DEVICE


@dataclass
class GymEnvConf:
    """env=cartpole, lunarlander: any gymnasium id with vector observations."""

    name: str = MISSING
    id: str = MISSING
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class QNetworkConf:
    """network=nature_cnn; the keys of every Q-network option."""

    _target_: str = MISSING
    hidden_sizes: list[int] = ranged(gt=0)  # units per layer
    dueling: bool = MISSING
    noisy: bool = MISSING
    noisy_sigma0: float = ranged(gt=0)


@dataclass
class MLPNetworkConf(QNetworkConf):
    """network=mlp: a Q-network's keys plus the activation."""

    activation: str = one_of("relu", "tanh", "elu")


@dataclass
class UniformBufferConf:
    """buffer=uniform."""

    _target_: str = MISSING
    capacity: int = ranged(gt=0)
    storage: str = one_of("auto", "transitions", "frames")


@dataclass
class PrioritizedBufferConf(UniformBufferConf):
    """buffer=prioritized: uniform's keys plus the priority exponents."""

    alpha: float = ranged(ge=0, le=1)
    beta_start: float = ranged(ge=0, le=1)
    beta_steps: int = ranged(gt=0)
    priority_eps: float = ranged(gt=0)


@dataclass
class ScheduleExplorationConf:
    """A value decayed from start to end (each option says which values start and end take)."""

    _target_: str = MISSING
    start: float = MISSING
    end: float = MISSING
    decay_steps: int = ranged(gt=0)
    decay: str = one_of(*DECAYS)


@dataclass
class EpsilonGreedyConf(ScheduleExplorationConf):
    """exploration=epsilon_greedy: epsilon is a probability."""

    start: float = ranged(ge=0, le=1, noun="a probability")
    end: float = ranged(ge=0, le=1, noun="a probability")


@dataclass
class BoltzmannConf(ScheduleExplorationConf):
    """exploration=boltzmann: a softmax temperature, in units of Q."""

    start: float = ranged(gt=0, noun="a temperature")
    end: float = ranged(gt=0, noun="a temperature")


@dataclass
class AgentConf:
    """agent=dqn (and rainbow_lite, which extends it)."""

    gamma: float = ranged(gt=0, le=1)
    lr: float = ranged(gt=0)
    lr_end: float | None = ranged(ge=0, default=None)
    batch_size: int = ranged(gt=0)
    double_q: bool = MISSING
    n_step: int = ranged(gt=0)
    loss: str = one_of("huber", "mse")
    max_grad_norm: float | None = ranged(gt=0, default=None)
    target_sync_period: int = ranged(gt=0)
    tau: float = ranged(gt=0, le=1)
    train_freq: int = ranged(gt=0)
    gradient_steps: int = ranged(gt=0)
    learning_starts: int = ranged(ge=0)
    optimizer: dict[str, Any] = MISSING  # a torch.optim `_target_` and its keyword arguments


@dataclass
class TrainerConf:
    """trainer=default."""

    total_steps: int = ranged(gt=0)
    num_envs: int = ranged(gt=0)
    vectorization_mode: str = one_of("sync", "async", "vector_entry_point")
    eval_every: int = ranged(gt=0)
    eval_episodes: int = ranged(gt=0)
    eval_epsilon: float = ranged(ge=0, le=1, noun="a probability")
    test_episodes: int = ranged(ge=0)
    checkpoint_every: int = ranged(gt=0)
    checkpoint_buffer: bool = MISSING
    checkpoint_dir: str = MISSING
    video_every: int | None = ranged(gt=0, default=None)
    output_dir: str | None = None
    log_every: int = ranged(gt=0)
    progress_every_s: float = ranged(gt=0, noun="a number of seconds")
    torch_threads: int | None = ranged(gt=0, default=None)
    resume: str | None = None


@dataclass
class TrackingConf:
    """tracking=mlflow."""

    uri: str | None = None
    experiment: str = MISSING
    log_model: bool = MISSING
    flush_every_s: float = ranged(ge=0, noun="a number of seconds")
    plots_every_s: float = ranged(ge=0, noun="a number of seconds")
    outage_limit_s: float = ranged(ge=0, noun="a number of seconds")
