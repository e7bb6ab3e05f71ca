"""dqnlab vs Stable-Baselines3 DQN at identical hyperparameters, in one run on one machine.

    pip install -e ".[bench]" && python bench/sb3_side_by_side.py

Hyperparameters are rl-baselines3-zoo's DQN settings for CartPole-v1 and LunarLander
(zoo's LunarLander-v2 entry, run on LunarLander-v3). Reports env steps per second of
each and their ratio, and on CartPole the wall time to a greedy eval mean >= 475 over
20 episodes (evaluated every 2,000 steps by both, the evaluation time included).
"""

import argparse
import time
from dataclasses import dataclass

import gymnasium as gym
import torch
from common import first_reach, median, run_ours
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy


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
    net_arch: tuple[int, ...] = (256, 256)
    gamma: float = 0.99

    def sb3_kwargs(self) -> dict:
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
            policy_kwargs=dict(net_arch=list(self.net_arch)),
        )

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
            f"network.hidden_sizes=[{','.join(map(str, self.net_arch))}]",
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


class EvalTimer(BaseCallback):
    """Greedy eval every `every` steps on a separate env; records (step, seconds, mean)."""

    def __init__(self, env_id: str, every: int, episodes: int, seed: int) -> None:
        super().__init__()
        self.env = gym.make(env_id)
        self.env.reset(seed=seed)
        self.every, self.episodes = every, episodes
        self.points: list[tuple[int, float, float]] = []

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            mean, _ = evaluate_policy(self.model, self.env, self.episodes, deterministic=True)
            self.points.append((self.num_timesteps, time.perf_counter() - self.start, mean))
        return True


def sb3_run(zoo: ZooSettings, steps: int, seed: int, callback: EvalTimer | None = None) -> float:
    """Train SB3's DQN; return env steps per second."""
    model = DQN("MlpPolicy", gym.make(zoo.env_id), seed=seed, device="cpu", **zoo.sb3_kwargs())
    start = time.perf_counter()
    model.learn(steps, callback=callback)
    return steps / (time.perf_counter() - start)


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
    args = parser.parse_args()
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
