"""Schemas of the training config (conf/config.yaml) and of each option of its groups."""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


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
    seed: int = MISSING
    device: str = MISSING  # auto | cpu | cuda | cuda:<index>, checked by config_checks


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
    hidden_sizes: list[int] = MISSING
    dueling: bool = MISSING
    noisy: bool = MISSING
    noisy_sigma0: float = MISSING


@dataclass
class MLPNetworkConf(QNetworkConf):
    """network=mlp: a Q-network's keys plus the activation."""

    activation: str = MISSING


@dataclass
class UniformBufferConf:
    """buffer=uniform."""

    _target_: str = MISSING
    capacity: int = MISSING
    storage: str = MISSING  # auto | transitions | frames, checked when the buffer is built


@dataclass
class PrioritizedBufferConf(UniformBufferConf):
    """buffer=prioritized: uniform's keys plus the priority exponents."""

    alpha: float = MISSING
    beta_start: float = MISSING
    beta_steps: int = MISSING
    priority_eps: float = MISSING


@dataclass
class ScheduleExplorationConf:
    """exploration=epsilon_greedy, boltzmann: a value decayed from start to end."""

    _target_: str = MISSING
    start: float = MISSING
    end: float = MISSING
    decay_steps: int = MISSING
    decay: str = MISSING


@dataclass
class AgentConf:
    """agent=dqn (and rainbow_lite, which extends it)."""

    gamma: float = MISSING
    lr: float = MISSING
    lr_end: float | None = None
    batch_size: int = MISSING
    double_q: bool = MISSING
    n_step: int = MISSING
    loss: str = MISSING
    max_grad_norm: float | None = None
    target_sync_period: int = MISSING
    tau: float = MISSING
    train_freq: int = MISSING
    gradient_steps: int = MISSING
    learning_starts: int = MISSING
    optimizer: dict[str, Any] = MISSING  # a torch.optim `_target_` and its keyword arguments


@dataclass
class TrainerConf:
    """trainer=default."""

    total_steps: int = MISSING
    num_envs: int = MISSING
    vectorization_mode: str = MISSING
    eval_every: int = MISSING
    eval_episodes: int = MISSING
    eval_epsilon: float = MISSING
    test_episodes: int = MISSING
    checkpoint_every: int = MISSING
    checkpoint_buffer: bool = MISSING
    checkpoint_dir: str = MISSING
    video_every: int | None = None
    output_dir: str | None = None
    log_every: int = MISSING
    progress_every_s: float = MISSING
    torch_threads: int | None = None
    resume: str | None = None


@dataclass
class TrackingConf:
    """tracking=mlflow."""

    uri: str | None = None
    experiment: str = MISSING
    log_model: bool = MISSING
    flush_every_s: float = MISSING
    plots_every_s: float = MISSING
