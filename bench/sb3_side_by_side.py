"""dqnlab vs Stable-Baselines3 DQN at identical hyperparameters, in one run on one machine.

    pip install -e ".[bench]" && python bench/sb3_side_by_side.py
    python bench/sb3_side_by_side.py --pong   # Pong throughput on CPU only (~6 min on 2 cores)

Hyperparameters are rl-baselines3-zoo's DQN settings for CartPole-v1 and LunarLander
(zoo's LunarLander-v2 entry, run on LunarLander-v3). Reports env steps per second of
each and their ratio, and on CartPole the wall time to a greedy eval mean >= 475 over
20 episodes (evaluated every 2,000 steps by both, the evaluation time included).

`--pong` instead compares env steps per second on ALE/Pong-v5 (Nature CNN, zoo's Atari
settings, a shorter warm-up and buffer: see `pong_settings`), learning on, on the CPU with
the same torch thread count, and splits each one's time into updates and the rest.
"""

import argparse
import os
import time
from dataclasses import dataclass

import gymnasium as gym
import torch
from common import (
    LearningThroughput,
    call_spans,
    first_reach,
    learning_throughput,
    median,
    run_ours,
)
from stable_baselines3 import DQN
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env, make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack

from dqnlab.agent.learner import DQNLearner
from dqnlab.device import cpu_model
from dqnlab.replay.buffer import UniformReplayBuffer


@dataclass(frozen=True)
class ZooSettings:
    env_id: str
    env_name: str
    n_timesteps: int
    lr: float
    batch_size: int
    buffer_size: int
    learning_starts: int
    target_update_interval: int
    train_freq: int
    gradient_steps: int
    exploration_fraction: float
    exploration_final_eps: float
    net_arch: tuple[int, ...] | None = (256, 256)  # None: the policy's own (Nature CNN)
    gamma: float = 0.99
    policy: str = "MlpPolicy"
    atari: bool = False  # Atari preprocessing: SB3's make_atari_env + 4 stacked frames

    def sb3_env(self, seed: int) -> gym.Env | VecEnv:
        """SB3's env: plain gymnasium, or its Atari wrappers set as our env=pong is."""
        if not self.atari:
            return gym.make(self.env_id)
        import ale_py  # registers the ALE/ ids

        gym.register_envs(ale_py)
        # v5 ids skip 4 frames themselves: frameskip=1 leaves skipping (and max-pooling) to
        # the wrapper, as ours does. Sticky actions 0.25 as the v5 id (and our default);
        # the wrapper's defaults (30 no-ops, skip 4, 84x84, life loss ends the episode,
        # clipped rewards, FIRE on reset) are our env=pong's.
        envs = make_atari_env(
            self.env_id,
            n_envs=1,
            seed=seed,
            env_kwargs=dict(frameskip=1, repeat_action_probability=0.25),
        )
        return VecFrameStack(envs, n_stack=4)

    def sb3_kwargs(self) -> dict:
        policy_kwargs = {} if self.net_arch is None else dict(net_arch=list(self.net_arch))
        return dict(
            learning_rate=self.lr,
            batch_size=self.batch_size,
            buffer_size=self.buffer_size,
            learning_starts=self.learning_starts,
            gamma=self.gamma,
            target_update_interval=self.target_update_interval,
            train_freq=self.train_freq,
            gradient_steps=self.gradient_steps,
            exploration_fraction=self.exploration_fraction,
            exploration_final_eps=self.exploration_final_eps,
            policy_kwargs=policy_kwargs,
        )

    def _hidden_sizes(self) -> list[str]:
        """Our network's override for `net_arch`; none for the policy's own (Nature CNN)."""
        if self.net_arch is None:
            return []
        return [f"network.hidden_sizes=[{','.join(map(str, self.net_arch))}]"]

    def our_overrides(self, total_steps: int) -> list[str]:
        # SB3's defaults that the zoo leaves alone: Huber loss, max_grad_norm 10, Adam,
        # vanilla max-Q target, constant learning rate; our env options differ on some.
        return [
            f"env={self.env_name}",
            f"agent.lr={self.lr}",
            f"agent.batch_size={self.batch_size}",
            f"buffer.capacity={self.buffer_size}",
            f"agent.learning_starts={self.learning_starts}",
            f"agent.gamma={self.gamma}",
            f"agent.target_sync_period={self.target_update_interval}",
            f"agent.train_freq={self.train_freq}",
            f"agent.gradient_steps={self.gradient_steps}",
            f"exploration.decay_steps={int(self.exploration_fraction * self.n_timesteps)}",
            "exploration.start=1.0",
            f"exploration.end={self.exploration_final_eps}",
            *self._hidden_sizes(),
            "agent.loss=huber",
            "agent.max_grad_norm=10",
            "agent.tau=1.0",
            "trainer.num_envs=1",
            "agent.double_q=false",
            "agent.lr_end=null",
            f"trainer.total_steps={total_steps}",
            "device=cpu",
        ]


CARTPOLE = ZooSettings(
    "CartPole-v1", "cartpole", 50_000, 2.3e-3, 64, 100_000, 1000, 10, 256, 128, 0.16, 0.04
)
# gradient_steps=-1 in the zoo: as many updates as env steps collected (4 per 4 with 1 env).
LUNARLANDER = ZooSettings(
    "LunarLander-v3", "lunarlander", 100_000, 6.3e-4, 128, 50_000, 0, 250, 4, 4, 0.12, 0.1
)


def pong_settings(warmup: int, learning_steps: int, buffer_size: int) -> ZooSettings:
    """Zoo's Atari DQN (lr 1e-4, batch 32, 1 update per 4 steps, target sync 1000,
    epsilon to 0.01) made measurable on a CPU: `warmup` random steps instead of 100k, and
    epsilon at 0.01 from then on, as for 90% of a zoo run (random actions skip the forward).

    `buffer_size` (zoo: 10k) bounds SB3's buffer, which stores s and s' (56 kB per step).
    """
    total = warmup + learning_steps
    return ZooSettings(
        "ALE/Pong-v5",
        "pong",
        total,
        1e-4,
        32,
        buffer_size,
        warmup,
        1000,
        4,
        1,
        warmup / total,
        0.01,
        net_arch=None,
        policy="CnnPolicy",
        atari=True,
    )


class EvalTimer(BaseCallback):
    """Greedy eval every `every` env steps on `episodes` separate envs stepped together (one
    batched forward per step, as ours evaluates); records (step, seconds, mean)."""

    def __init__(self, env_id: str, every: int, episodes: int, seed: int) -> None:
        super().__init__()
        self.envs = make_vec_env(env_id, n_envs=episodes, seed=seed)
        self.every, self.episodes = every, episodes
        self.points: list[tuple[int, float, float]] = []

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            mean, _ = evaluate_policy(self.model, self.envs, self.episodes, deterministic=True)
            self.points.append((self.num_timesteps, time.perf_counter() - self.start, mean))
        return True


def sb3_run(zoo: ZooSettings, steps: int, seed: int, callback: EvalTimer | None = None) -> float:
    """Train SB3's DQN; return env steps per second."""
    model = DQN(zoo.policy, zoo.sb3_env(seed), seed=seed, device="cpu", **zoo.sb3_kwargs())
    start = time.perf_counter()
    model.learn(steps, callback=callback)
    return steps / (time.perf_counter() - start)


def sb3_learning_throughput(zoo: ZooSettings) -> tuple[LearningThroughput, str]:
    """SB3's learning-phase throughput (a phase: one `DQN.train` call) and the whole run's."""
    with call_spans(DQN, "train") as phases, call_spans(ReplayBuffer, "sample") as samples:
        sps = sb3_run(zoo, zoo.n_timesteps, seed=0)
    whole = f"learn() {zoo.n_timesteps / sps:.1f} s"
    return learning_throughput(phases, [phases], samples, zoo.train_freq), whole


def our_learning_throughput(zoo: ZooSettings, threads: int) -> tuple[LearningThroughput, str]:
    """Our learning-phase throughput (a phase: replay sample + `DQNLearner.update`) and the
    whole run's; the final evaluation and checkpoint come after the timed window."""
    overrides = [
        *zoo.our_overrides(zoo.n_timesteps),
        f"trainer.torch_threads={threads}",
        f"trainer.eval_every={10 * zoo.n_timesteps}",  # only the final one, after the window
        "trainer.eval_episodes=1",
        "trainer.checkpoint_buffer=false",
    ]
    with (
        call_spans(DQNLearner, "update") as phases,
        call_spans(UniformReplayBuffer, "sample") as samples,
    ):
        result = run_ours(overrides)
    whole = f"training loop {result.seconds:.1f} s with a 1-game final eval"
    return learning_throughput(phases, [phases, samples], samples, zoo.train_freq), whole


def compare_pong(warmup: int, learning_steps: int, buffer_size: int, threads: int) -> None:
    """Print both libraries' env steps/s on Pong with learning on, their ratio and split."""
    zoo = pong_settings(warmup, learning_steps, buffer_size)
    torch.set_num_threads(threads)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{cpu_model()}, {os.cpu_count()} CPUs, load average {load}; torch {torch.__version__}, "
        f"{threads} threads; {zoo.env_id}, {warmup} warm-up + {learning_steps} learning steps, "
        f"batch {zoo.batch_size}, 1 update per {zoo.train_freq} steps, buffer {buffer_size}",
        flush=True,
    )
    results = {}
    for name, measure in (
        ("SB3", lambda: sb3_learning_throughput(zoo)),
        ("dqnlab", lambda: our_learning_throughput(zoo, threads)),
    ):
        results[name], whole = measure()
        r = results[name]
        print(
            f"{name}: {r.steps_per_s:.1f} env steps/s over {r.steps} learning steps "
            f"({r.seconds:.1f} s; {whole}, warm-up included; "
            f"{torch.get_num_threads()} threads); "
            f"per update {r.update_ms:.1f} ms (sampling {r.sample_ms:.1f} ms), "
            f"rest {r.other_ms:.2f} ms per env step",
            flush=True,
        )
    ratio = results["dqnlab"].steps_per_s / results["SB3"].steps_per_s
    print(f"{zoo.env_id} learning-phase env steps/s: dqnlab / SB3 = {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-steps", type=int, default=30_000)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        default=[0, 1, 2],
        help="seeds for time to 475; none skips it",
    )
    parser.add_argument(
        "--pong",
        action="store_true",
        help="only compare env steps/s on ALE/Pong-v5 (CPU, learning on)",
    )
    parser.add_argument("--pong-warmup", type=int, default=2000, help="steps before learning")
    parser.add_argument("--pong-steps", type=int, default=20_000, help="timed learning steps")
    parser.add_argument("--pong-buffer", type=int, default=50_000, help="replay capacity")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (--pong)")
    args = parser.parse_args()
    if args.pong:
        compare_pong(args.pong_warmup, args.pong_steps, args.pong_buffer, args.threads)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    for zoo in (CARTPOLE, LUNARLANDER):
        n = min(args.speed_steps, zoo.n_timesteps)
        no_eval = [f"trainer.eval_every={10 * n}", "trainer.eval_episodes=1"]
        sb3_sps = sb3_run(zoo, n, seed=0)
        ours = run_ours([*zoo.our_overrides(n), *no_eval])
        our_sps = ours.steps / ours.seconds
        print(
            f"{zoo.env_id} ({n} steps, zoo hyperparameters): SB3 {sb3_sps:.0f} steps/s, "
            f"dqnlab {our_sps:.0f} steps/s, ratio {our_sps / sb3_sps:.2f}x",
            flush=True,
        )

    sb3_times, our_times = [], []
    for seed in args.seeds:
        timer = EvalTimer(CARTPOLE.env_id, every=2000, episodes=20, seed=seed + 1000)
        sb3_run(CARTPOLE, CARTPOLE.n_timesteps, seed, timer)
        ours = run_ours(
            [
                *CARTPOLE.our_overrides(CARTPOLE.n_timesteps),
                f"seed={seed}",
                "trainer.eval_every=2000",
                "trainer.eval_episodes=20",
            ]
        )
        sb3_step, sb3_s = first_reach(timer.points, 475)
        our_step, our_s = first_reach([(e.step, e.seconds, e.mean) for e in ours.evals], 475)
        sb3_times.append(sb3_s)
        our_times.append(our_s)
        print(
            f"CartPole-v1 seed {seed}: time to 475: SB3 {sb3_s:.1f} s (step {sb3_step}), "
            f"dqnlab {our_s:.1f} s (step {our_step})",
            flush=True,
        )
    if args.seeds:
        print(
            f"CartPole-v1 median time to 475 (zoo hyperparameters): SB3 {median(sb3_times):.1f} s, "
            f"dqnlab {median(our_times):.1f} s"
        )


if __name__ == "__main__":
    main()
