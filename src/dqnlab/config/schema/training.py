"""Schemas of the training config (conf/config.yaml) and of each option of its groups.

Each key's docstring is its help text in the generated configuration reference
(dqnlab.config.reference).
"""

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
    """Seeds Python, NumPy, torch, the envs and the replay sampler: the same seed and config
    give the same run on CPU."""
    device: str = DEVICE
    """`auto`: CUDA when visible, else the CPU."""


@dataclass
class GymEnvConf:
    """env=cartpole, lunarlander, atari, pong, breakout: any gymnasium id."""

    name: str = MISSING
    """Short name in experiment and run names; from `env.id` unless set (`Acrobot-v1`:
    `acrobot`)."""
    id: str = MISSING
    """A gymnasium id with Box observations and Discrete actions."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of `gymnasium.make`; with `preprocessing: atari`, the Atari options."""


@dataclass
class QNetworkConf:
    """network=nature_cnn; the keys of every Q-network option."""

    _target_: str = MISSING
    """The network class built."""
    hidden_sizes: list[int] = ranged(gt=0)
    """Units of each fully connected hidden layer."""
    dueling: bool = MISSING
    """Value and advantage streams, `Q = V + A - mean(A)` (Wang et al. 2016)."""
    noisy: bool = MISSING
    """Fully connected layers as factorised Gaussian noisy layers (Fortunato et al. 2018);
    set the exploration's start and end to 0 with it."""
    noisy_sigma0: float = ranged(gt=0)
    """Initial noise scale, `sigma0 / sqrt(fan_in)`."""
    layer_norm: bool = MISSING
    """LayerNorm (with a learned scale and shift) after each fully connected hidden layer,
    before its activation."""


@dataclass
class MLPNetworkConf(QNetworkConf):
    """network=mlp: a Q-network's keys plus the activation."""

    activation: str = one_of("relu", "tanh", "elu")
    """Activation after each hidden layer."""


@dataclass
class UniformBufferConf:
    """buffer=uniform."""

    _target_: str = MISSING
    """The replay buffer class built."""
    capacity: int = ranged(gt=0)
    """Transitions kept; the oldest are overwritten first."""
    storage: str = one_of("auto", "transitions", "frames", "device")
    """`frames`: each frame of uint8 frame stacks stored once (Atari); `transitions`: full
    `(s, s')` rows; `auto`: frames for uint8 `(stack, H, W)` observations; `device`: full
    rows in the learner's device memory (GPU), so batches need no host-to-device copy."""
    pin_memory: bool = MISSING
    """Host storages gather each batch into page-locked memory, so its copy to a CUDA device
    runs asynchronously (no effect on a CPU)."""


@dataclass
class PrioritizedBufferConf(UniformBufferConf):
    """buffer=prioritized: uniform's keys plus the priority exponents."""

    alpha: float = ranged(ge=0, le=1)
    """Priority exponent: (|TD error| + eps)^alpha (0: uniform)."""
    beta_start: float = ranged(ge=0, le=1)
    """Importance-weight exponent at the start, annealed linearly to 1."""
    beta_steps: int = ranged(gt=0)
    """Added transitions over which beta reaches 1."""
    priority_eps: float = ranged(gt=0)
    """Added to |TD error| so that no transition gets priority 0."""


@dataclass
class ScheduleExplorationConf:
    """A value decayed from start to end (each option says which values start and end take)."""

    _target_: str = MISSING
    """The exploration class built."""
    start: float = MISSING
    """Value at step 0."""
    end: float = MISSING
    """Value after `decay_steps`."""
    decay_steps: int = ranged(gt=0)
    """Env steps over which the value moves from start to end."""
    decay: str = one_of(*DECAYS)
    """`linear`, or `exponential` (geometric; start and end > 0)."""


@dataclass
class EpsilonGreedyConf(ScheduleExplorationConf):
    """exploration=epsilon_greedy: epsilon is a probability."""

    start: float = ranged(ge=0, le=1, noun="a probability")
    """Epsilon (the probability of a random action) at step 0."""
    end: float = ranged(ge=0, le=1, noun="a probability")
    """Epsilon after `decay_steps`."""


@dataclass
class BoltzmannConf(ScheduleExplorationConf):
    """exploration=boltzmann: a softmax temperature, in units of Q."""

    start: float = ranged(gt=0, noun="a temperature")
    """Temperature of `softmax(Q / temperature)` at step 0, in units of Q."""
    end: float = ranged(gt=0, noun="a temperature")
    """Temperature after `decay_steps`."""


@dataclass
class AgentConf:
    """agent=dqn (and rainbow_lite, which extends it)."""

    gamma: float = ranged(gt=0, le=1)
    """Discount factor."""
    lr: float = ranged(gt=0)
    """Learning rate."""
    lr_end: float | None = ranged(ge=0, default=None)
    """`null`: a constant learning rate; a number: linear decay from `lr` to it over
    `trainer.total_steps`."""
    batch_size: int = ranged(gt=0)
    """Transitions per gradient update."""
    double_q: bool = MISSING
    """Double-DQN target: the online net picks a', the target net evaluates it."""
    n_step: int = ranged(gt=0)
    """Rewards summed per transition (n-step returns), cut at episode ends."""
    loss: str = one_of("huber", "mse")
    """TD loss: `huber` (smooth L1, delta 1) or `mse`."""
    max_grad_norm: float | None = ranged(gt=0, default=None)
    """Clip the gradient norm to this; `null`: no clipping."""
    target_sync_period: int = ranged(gt=0)
    """Env steps between target-network syncs."""
    tau: float = ranged(gt=0, le=1)
    """`1`: a hard copy at each sync; below 1: a Polyak step of this size."""
    train_freq: int = ranged(gt=0)
    """Env steps between learning phases."""
    gradient_steps: int = ranged(gt=0)
    """Gradient updates per learning phase."""
    learning_starts: int = ranged(ge=0)
    """Env steps collected before the first update."""
    update_mode: str = one_of("eager", "graph", "compile")
    """How each update runs: `eager`, op by op; `graph`, on static tensors, captured once as
    a CUDA graph and replayed on CUDA devices (the optimiser must take `capturable`, as Adam
    does); `compile`, through `torch.compile` (`reduce-overhead` on CUDA). Every mode
    computes the same update; `graph` on a CPU runs eagerly."""
    optimizer: dict[str, Any] = MISSING
    """A `torch.optim` class (`_target_`) and its keyword arguments; the learning rate comes
    from `lr`."""


@dataclass
class TrainerConf:
    """trainer=default."""

    total_steps: int = ranged(gt=0)
    """Env steps to train for (transitions, summed over envs)."""
    num_envs: int = ranged(gt=0)
    """Parallel training envs (a gymnasium vector env)."""
    vectorization_mode: str = one_of("sync", "async", "vector_entry_point")
    """`sync`, `async`, or `vector_entry_point`: the env's native vector env (Atari: ale-py's
    C++ `AtariVectorEnv`)."""
    eval_every: int = ranged(gt=0)
    """Env steps between greedy evaluations (one is always run at the end)."""
    eval_episodes: int = ranged(gt=0)
    """Episodes per evaluation, played as parallel envs from fixed seeds."""
    eval_epsilon: float = ranged(ge=0, le=1, noun="a probability")
    """Probability of a random action in evaluations; its draws are seeded."""
    test_episodes: int = ranged(ge=0)
    """After training, the best model plays this many episodes from start states no
    evaluation used (`test/return_mean`); 0: no test."""
    checkpoint_every: int = ranged(gt=0)
    """Env steps between checkpoints (one is always written at the end and on a stop)."""
    checkpoint_buffer: bool = MISSING
    """Checkpoints hold the replay buffer (an exact resume; larger files)."""
    checkpoint_dir: str = MISSING
    """Local folder; checkpoints go to `<dir>/<run id>/checkpoint.pt`."""
    video_every: int | None = ranged(gt=0, default=None)
    """Env steps between videos of one greedy episode, logged at evaluations; `null`: none."""
    output_dir: str | None = None
    """A folder for plain files a pipeline tracks: `model.pt`, `metrics.json`,
    `eval_curve.csv`; `null`: none."""
    log_every: int = ranged(gt=0)
    """Env steps between points of the `train/…` statistics."""
    progress_every_s: float = ranged(gt=0, noun="a number of seconds")
    """Seconds between progress lines."""
    torch_threads: int | None = ranged(gt=0, default=None)
    """Torch intra-op threads; `null`: torch's default (a sweep divides the cores among its
    workers)."""
    resume: str | None = None
    """A run id, a checkpoint path, or `auto` (the newest unfinished run of this config):
    continue that run from its checkpoint."""


@dataclass
class TrackingConf:
    """tracking=mlflow."""

    uri: str | None = None
    """MLflow tracking URI; `null`: `MLFLOW_TRACKING_URI` when set, else `sqlite:///mlflow.db`
    in the working directory."""
    experiment: str = MISSING
    """Experiment name."""
    log_model: bool = MISSING
    """Log the best model (by greedy eval return) as an MLflow PyTorch model."""
    flush_every_s: float = ranged(ge=0, noun="a number of seconds")
    """Metrics are sent in batches this often."""
    plots_every_s: float = ranged(ge=0, noun="a number of seconds")
    """Least seconds between redraws of `plots/diagnostics.png` after evaluations."""
    outage_limit_s: float = ranged(ge=0, noun="a number of seconds")
    """How long a tracking server may be away before the run checkpoints and exits 75
    (metrics are kept meanwhile)."""
