"""Cost of recording episode statistics per env step: on each sub-env (as shipped) or on the
vector env, beside a vector env that records none.

    python bench/episode_statistics.py                          # CartPole-v1, 1 and 20 envs
    python bench/episode_statistics.py --env LunarLander-v3 --num-envs 1

The training envs are gymnasium sync vector envs with NextStep autoreset; `info["episode"]`
comes either from `gymnasium.wrappers.RecordEpisodeStatistics` on every sub-env (what
`make_vector_env` builds) or from `gymnasium.wrappers.vector.RecordEpisodeStatistics` around
the vector env. The three are stepped with the same random actions in alternating rounds, so
machine noise hits them alike; reports the median over rounds of the microseconds per
vector step and the ratio of the vector wrapper's to the sub-envs'.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from dqnlab.envs.factory import make_vector_env


def sync_envs(env_id: str, num_envs: int) -> gym.vector.VectorEnv:
    """A sync vector env with NextStep autoreset and no statistics."""
    return gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP},
    )


VARIANTS: dict[str, Callable[[str, int], gym.vector.VectorEnv]] = {
    "per sub-env (shipped)": make_vector_env,
    "vector wrapper": lambda env_id, n: gym.wrappers.vector.RecordEpisodeStatistics(
        sync_envs(env_id, n)
    ),
    "none": sync_envs,
}


def time_round(envs: gym.vector.VectorEnv, actions: np.ndarray) -> float:
    """Microseconds per vector step over `actions` (one row per step)."""
    start = time.perf_counter()
    for row in actions:
        envs.step(row)
    return (time.perf_counter() - start) / len(actions) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--steps", type=int, default=5000, help="vector steps per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    for num_envs in args.num_envs:
        envs = {name: make(args.env, num_envs) for name, make in VARIANTS.items()}
        rng = np.random.default_rng(0)
        n_actions = int(next(iter(envs.values())).single_action_space.n)
        times: dict[str, list[float]] = {name: [] for name in envs}
        for _ in range(args.rounds):
            actions = rng.integers(0, n_actions, (args.steps, num_envs))
            for name, env in envs.items():
                env.reset(seed=0)
                times[name].append(time_round(env, actions))
        medians = {name: statistics.median(t) for name, t in times.items()}
        cells = ", ".join(f"{name} {us:.1f} us" for name, us in medians.items())
        ratio = medians["vector wrapper"] / medians["per sub-env (shipped)"]
        print(f"{args.env} x{num_envs}: {cells} a step; vector / per sub-env {ratio:.2f}x")
        for env in envs.values():
            env.close()


if __name__ == "__main__":
    main()
