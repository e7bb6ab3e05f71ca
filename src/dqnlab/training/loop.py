"""The DQN training loop: act, step, store, learn, sync the target; callbacks do the rest."""

import time
from collections.abc import Sequence

import numpy as np
import torch

from dqnlab.training.callbacks import Callback
from dqnlab.training.state import Training, TrainResult


def train(run: Training, callbacks: Sequence[Callback]) -> TrainResult:
    """Train until `settings.total_steps` env steps, or until a callback stops the run."""
    envs, learner, buffer, exploration = run.envs, run.learner, run.buffer, run.exploration
    s, st = run.settings, run.state
    n_actions = int(envs.single_action_space.n)
    all_envs = np.arange(envs.num_envs)
    run.started, run.start_step = time.perf_counter(), st.step
    for callback in callbacks:
        callback.on_train_start(run)

    def q_values() -> torch.Tensor:
        with torch.no_grad():
            return learner.q_net(torch.as_tensor(st.obs, device=run.device))

    while not run.done:
        for callback in callbacks:
            callback.on_step_start(run)

        # Act: explore or exploit.
        actions = exploration.select(st.step, q_values, n_actions, envs.num_envs, run.rng)

        # Step all envs.
        next_obs, rewards, terminated, truncated, info = envs.step(actions)

        # Store real transitions only: not the autoreset step that crosses an episode boundary.
        # The buffer holds each env's latest steps until their n-step returns are complete.
        step = (st.obs, actions, rewards, next_obs, terminated, truncated)
        if st.resets_next.any():
            real = ~st.resets_next
            buffer.add_steps(np.flatnonzero(real), *(field[real] for field in step))
            stored = int(real.sum())
        else:  # most steps: every env's step is real, nothing to select
            buffer.add_steps(all_envs, *step)
            stored = envs.num_envs
        st.resets_next = terminated | truncated
        st.obs = next_obs
        before, st.step = st.step, st.step + stored

        # Learn: `gradient_steps` updates every `train_freq` env steps once learning starts.
        phases = run.crossed(before, s.train_freq)
        if phases and st.step >= st.learning_starts and len(buffer) >= s.batch_size:
            if s.lr_schedule is not None:
                learner.set_lr(s.lr_schedule(st.step))
            for _ in range(phases * s.gradient_steps):
                batch = buffer.sample(s.batch_size)
                st.updates.append(learner.update(batch))
                buffer.update_priorities(batch.indices, st.updates[-1].td_error)

        # Sync the target network.
        if run.crossed(before, s.target_sync_period):
            learner.sync_target(s.tau)

        # Record episodes, log, evaluate, checkpoint, report progress.
        for callback in callbacks:
            callback.on_step_end(run, before, info)

    run.result.steps = st.step
    run.result.seconds = run.seconds()
    return run.result
