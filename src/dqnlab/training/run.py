"""The composition root: turn a Hydra config into objects, train, and record it in MLflow."""

import copy
import logging
import signal
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import mlflow
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from dqnlab.agent.learner import DQNLearner
from dqnlab.checkpointing.resume import (
    CHECKPOINT_TAG,
    CONFIG_HASH_TAG,
    ResumePoint,
    config_hash,
    find_resume_point,
)
from dqnlab.checkpointing.signals import defer_stop_signals
from dqnlab.config.checks import check_config, check_targets
from dqnlab.config.instantiation import build
from dqnlab.device import device_tags, resolve_device
from dqnlab.envs.factory import EnvSpaces, inspect_env, make_vector_env
from dqnlab.evaluation.greedy import evaluate_greedy
from dqnlab.schedules import DecaySchedule
from dqnlab.tracking.mlflow_run import (
    RunLabels,
    RunTracker,
    flatten,
    source_tags,
    tracked_run,
)
from dqnlab.tracking.server import without_passwords
from dqnlab.training.artifacts import EvalArtifacts, greedy_video
from dqnlab.training.callbacks import (
    Callback,
    Checkpointer,
    EpisodeRecorder,
    Evaluator,
    FlushMetrics,
    ProgressLog,
    StopOnSignal,
    TrainLogger,
)
from dqnlab.training.loop import train
from dqnlab.training.outputs import write_outputs
from dqnlab.training.seeding import seed_everything
from dqnlab.training.state import (
    EvalPoint,
    LoopSettings,
    Training,
    TrainResult,
    restore_loop,
    start_state,
)

log = logging.getLogger(__name__)

EVAL_SEED_OFFSET = 1_000_000  # eval episodes never replay the training seeds
TEST_SEED_OFFSET = 2_000_000  # test episodes replay neither the training nor the eval seeds


def run(
    cfg: DictConfig,
    on_eval: Callable[[Sequence[EvalPoint]], bool] | None = None,
    labels: RunLabels | None = None,
) -> TrainResult:
    """Train one DQN as `cfg` says, tracked in one MLflow run; return what it produced.

    Everything that can be checked is checked before the MLflow run exists, so bad input
    leaves nothing behind. `on_eval(evals)` is called after each evaluation with the
    evaluations so far; returning True stops training early (a sweep's pruner does).
    `labels` names the run, tags it and links it to a parent run (a sweep's trials do).
    """
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    resume = find_resume_point(cfg, overrides)
    if resume is not None:
        cfg = resume.config
    check_config(cfg)
    check_targets(cfg)
    env_kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True)
    spaces = inspect_env(cfg.env.id, env_kwargs)
    device = resolve_device(cfg.device)
    if cfg.trainer.torch_threads:
        torch.set_num_threads(cfg.trainer.torch_threads)
    rng = seed_everything(cfg.seed)
    learner = _build_learner(cfg, spaces, device)
    buffer = build(
        cfg.buffer,
        obs_shape=spaces.obs_shape,
        obs_dtype=_storage_dtype(spaces.obs_dtype),
        device=device,
        seed=cfg.seed,
        n_step=cfg.agent.n_step,
        gamma=cfg.agent.gamma,
        num_envs=cfg.trainer.num_envs,
    )
    exploration = build(cfg.exploration)
    settings = _loop_settings(cfg)

    labels = labels or RunLabels()
    mode, trainer = cfg.trainer.vectorization_mode, cfg.trainer
    with (
        closing(
            make_vector_env(cfg.env.id, trainer.num_envs, mode, env_kwargs, training=True)
        ) as envs,
        closing(
            make_vector_env(cfg.env.id, trainer.eval_episodes, mode, env_kwargs, training=False)
        ) as eval_envs,
        defer_stop_signals(signal.SIGINT, signal.SIGTERM),
        tracked_run(**_run_record(cfg, labels, overrides, resume, device)) as tracker,
    ):
        if labels.on_start is not None:
            labels.on_start(tracker.run_id)
        config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
        if resume is None:
            checkpoint = Path(cfg.trainer.checkpoint_dir) / tracker.run_id / "checkpoint.pt"
            mlflow.log_text(without_passwords(config_yaml), "config.yaml")
            mlflow.set_tag(CHECKPOINT_TAG, str(checkpoint.resolve()))
            state = start_state(envs, settings, cfg.seed)
        else:
            checkpoint = resume.path
            log.info(
                "resuming run %s from %s at step %d",
                resume.run_id,
                checkpoint,
                resume.checkpoint["step"],
            )
            tracker.requeue(resume.checkpoint.get("unsent_metrics", ()))
            state, rng = restore_loop(
                resume.checkpoint, learner, buffer, envs, settings.learning_starts, cfg.seed
            )
        checkpointer = Checkpointer(
            checkpoint,
            trainer.checkpoint_every,
            trainer.checkpoint_buffer,
            tracker,
            {"config": config_yaml, "run_id": tracker.run_id},
        )
        callbacks = _callbacks(
            cfg, learner, eval_envs, env_kwargs, device, tracker, checkpointer, on_eval
        )
        training = Training(envs, learner, buffer, exploration, settings, device, rng, state)
        result = train(training, callbacks)
        result.run_id = tracker.run_id
        best = _best_network(learner, result)
        if best is not None and trainer.test_episodes:
            result.test_return = _test_return(best, cfg, env_kwargs, device)
        result.model_uri = _log_outcome(cfg, result, best, spaces, checkpoint, tracker)
        if cfg.trainer.output_dir is not None:
            write_outputs(Path(cfg.trainer.output_dir), result, config_yaml, tracker.run_id)
    return result


def _run_record(
    cfg: DictConfig,
    labels: RunLabels,
    overrides: list[str],
    resume: ResumePoint | None,
    device: torch.device,
) -> dict[str, Any]:
    """What `tracked_run` records for this run: its name, params, tags and links."""
    started = datetime.now()
    return {
        "tracking_uri": cfg.tracking.uri,
        "experiment": cfg.tracking.experiment,
        "run_name": labels.name or f"{cfg.env.name}-s{cfg.seed}-{started:%Y%m%d-%H%M%S}",
        "params": {
            key: without_passwords(value)
            for key, value in flatten(OmegaConf.to_container(cfg, resolve=True)).items()
        },
        "tags": source_tags(overrides)
        | {"env.id": cfg.env.id, "seed": str(cfg.seed), CONFIG_HASH_TAG: config_hash(cfg)}
        | device_tags(device)
        | dict(labels.tags),
        "description": f"DQN on {cfg.env.id}, seed {cfg.seed}"
        + (f", overrides: {without_passwords(' '.join(overrides))}" if overrides else ""),
        "flush_every_s": cfg.tracking.flush_every_s,
        "outage_limit_s": cfg.tracking.outage_limit_s,
        "parent_run_id": labels.parent_run_id,
        "resume_run_id": resume.run_id if resume is not None else None,
    }


def _callbacks(
    cfg: DictConfig,
    learner: DQNLearner,
    eval_envs: gym.vector.VectorEnv,
    env_kwargs: dict,
    device: torch.device,
    tracker: RunTracker,
    checkpointer: Checkpointer,
    on_eval: Callable[[Sequence[EvalPoint]], bool] | None,
) -> list[Callback]:
    """Everything the loop does besides the algorithm, in the order it is done each step."""
    trainer = cfg.trainer
    eval_seed = cfg.seed + EVAL_SEED_OFFSET
    record_video = greedy_video(
        learner.q_net, cfg.env.id, env_kwargs, eval_seed, device, trainer.eval_epsilon
    )
    return [
        StopOnSignal(checkpointer),
        EpisodeRecorder(tracker),
        TrainLogger(tracker, trainer.log_every),
        Evaluator(
            eval_envs,
            trainer.eval_every,
            eval_seed,
            trainer.eval_epsilon,
            tracker,
            should_stop=on_eval,
            after_eval=EvalArtifacts(
                f"DQN on {cfg.env.id} (seed {cfg.seed})",
                cfg.tracking.plots_every_s,
                trainer.video_every,
                record_video,
            ),
        ),
        checkpointer,
        ProgressLog(trainer.progress_every_s),
        FlushMetrics(tracker, checkpointer),
    ]


def _build_learner(cfg: DictConfig, spaces: EnvSpaces, device: torch.device) -> DQNLearner:
    q_net = build(cfg.network, obs_shape=spaces.obs_shape, n_actions=spaces.n_actions)
    return DQNLearner(
        q_net.to(device),
        make_optimizer=build(cfg.agent.optimizer, lr=cfg.agent.lr),
        loss=cfg.agent.loss,
        max_grad_norm=cfg.agent.max_grad_norm,
        double=cfg.agent.double_q,
        update_mode=cfg.agent.update_mode,
    )


def _loop_settings(cfg: DictConfig) -> LoopSettings:
    agent = cfg.agent
    return LoopSettings(
        total_steps=cfg.trainer.total_steps,
        learning_starts=agent.learning_starts,
        batch_size=agent.batch_size,
        train_freq=agent.train_freq,
        gradient_steps=agent.gradient_steps,
        target_sync_period=agent.target_sync_period,
        tau=agent.tau,
        lr_schedule=_lr_schedule(cfg),
    )


def _lr_schedule(cfg: DictConfig) -> DecaySchedule | None:
    """Linear decay from agent.lr to agent.lr_end over the run; None keeps agent.lr."""
    if cfg.agent.lr_end is None:
        return None
    return DecaySchedule(cfg.agent.lr, cfg.agent.lr_end, cfg.trainer.total_steps, "linear")


def _storage_dtype(obs_dtype: np.dtype) -> np.dtype:
    """Float observations are stored as float32 (half the memory of float64, what nets use)."""
    return np.dtype(np.float32) if np.issubdtype(obs_dtype, np.floating) else obs_dtype


def _best_network(learner: DQNLearner, result: TrainResult) -> torch.nn.Module | None:
    """A copy of the network at its best evaluation, in eval mode; None when the run has
    none or was stopped early (pruned: nobody will test or register it)."""
    if result.best_state is None or result.stopped_early:
        return None
    best = copy.deepcopy(learner.q_net).eval()
    best.load_state_dict(result.best_state)
    return best


def _test_return(
    best: torch.nn.Module, cfg: DictConfig, env_kwargs: dict, device: torch.device
) -> float:
    """The best network's mean return over `trainer.test_episodes` episodes from start states
    no training or evaluation episode used: an estimate of what the kept model earns that its
    selection as "best" did not inflate."""
    trainer = cfg.trainer
    with closing(
        make_vector_env(
            cfg.env.id,
            trainer.test_episodes,
            trainer.vectorization_mode,
            env_kwargs,
            training=False,
        )
    ) as envs:
        test = evaluate_greedy(
            best, envs, cfg.seed + TEST_SEED_OFFSET, device, trainer.eval_epsilon
        )
    log.info("test of the best model: return %.1f ± %.1f", test.mean, test.std)
    return test.mean


def _log_outcome(
    cfg: DictConfig,
    result: TrainResult,
    best: torch.nn.Module | None,
    spaces: EnvSpaces,
    checkpoint: Path,
    tracker: RunTracker,
) -> str | None:
    """Summary metrics, learning curve, final checkpoint and best model (its URI, if logged).

    The summary metrics go through the tracker: a run killed after sending them (logging the
    model takes seconds) and resumed from its final checkpoint does not record them twice.
    """
    summary = {"eval/best_return_mean": result.best_eval, "train/seconds": result.seconds}
    if result.test_return is not None:
        summary["test/return_mean"] = result.test_return
    tracker.log_metrics(summary, step=result.steps)
    tracker.drain()
    mlflow.log_artifact(str(checkpoint), "checkpoints")
    if not cfg.tracking.log_model or best is None:
        return None
    example = np.zeros((2, *spaces.obs_shape), dtype=_storage_dtype(spaces.obs_dtype))
    return mlflow.pytorch.log_model(
        best.to("cpu"),
        name="best_model",
        input_example=example,
        # Listing requirements skips MLflow's slow inference of them.
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
    ).model_uri
