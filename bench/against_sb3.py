"""Learning curves and time to the solved threshold: dqnlab at its shipped defaults against
Stable-Baselines3 at rl-baselines3-zoo's settings, seed by seed, each library in turn.

    pip install -e ".[bench]"
    python bench/against_sb3.py --store runs-bench --env cartpole lunarlander --seeds 0 1 2 3 4
    python bench/plots.py curves --store runs-bench     # the figure and the table, redrawn

Every run is kept in `<store>/mlflow.db`, experiment `bench-<env>`, tagged
`bench.library` (dqnlab or sb3), `bench.machine` and `bench.command`, with its greedy eval
curve: `eval/return_mean` and `eval/seconds` (wall time since training began, evaluations
included) at each evaluation's env step. Both libraries evaluate on 20 episodes played as
parallel envs at the cadence of our env option (`trainer.eval_every`), and use the same
torch threads. Two copies of this script with other seeds may share one store.
"""

import argparse
import time
from pathlib import Path

import mlflow
import torch
from common import annotate_run, bench_tags, compose_config, run_ours, store_uri
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from sb3_side_by_side import CARTPOLE, LUNARLANDER, EvalTimer, ZooSettings, sb3_run

from dqnlab.tracking.experiments import use_experiment

ZOO = {"cartpole": CARTPOLE, "lunarlander": LUNARLANDER}
EVAL_EPISODES = 20
EVAL_SEED_OFFSET = 1_000_000  # our eval envs' seeds: seed + offset + i
LIBRARIES = ("dqnlab", "sb3")


def run_sb3(zoo: ZooSettings, seed: int, every: int) -> list[tuple[int, float, float]]:
    """SB3's DQN at the zoo's settings for the zoo's budget; its eval curve."""
    evals = EvalTimer(zoo.env_id, every, EVAL_EPISODES, seed + EVAL_SEED_OFFSET)
    sb3_run(zoo, zoo.n_timesteps, seed, evals)
    return evals.points


def record_sb3(
    store: Path, env: str, seed: int, points: list[tuple[int, float, float]], tags: dict
) -> None:
    """Keep SB3's curve as an MLflow run beside ours."""
    mlflow.set_tracking_uri(store_uri(store))
    client = MlflowClient()
    experiment_id = use_experiment(f"bench-{env}")
    run = client.create_run(experiment_id, run_name=f"sb3-{env}-s{seed}", tags=tags)
    now = int(time.time() * 1000)
    metrics = [Metric("eval/return_mean", mean, now, step) for step, _, mean in points]
    metrics += [Metric("eval/seconds", seconds, now, step) for step, seconds, _ in points]
    client.log_batch(run.info.run_id, metrics=metrics)
    client.log_param(run.info.run_id, "seed", seed)
    client.set_terminated(run.info.run_id)
    mlflow.set_tracking_uri(None)


def run_dqnlab(
    store: Path, env: str, seed: int, tags: dict, threads: int, extra: list[str]
) -> None:
    """Ours at the env option's shipped settings (plus `extra` overrides); its eval times
    added to its run."""
    overrides = [
        f"env={env}",
        f"seed={seed}",
        f"trainer.eval_episodes={EVAL_EPISODES}",
        f"tracking.experiment=bench-{env}",
        "trainer.checkpoint_buffer=false",
        f"trainer.torch_threads={threads}",
        *extra,
    ]
    annotate_run(store, run_ours(overrides, store), tags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="folder of the MLflow store")
    parser.add_argument("--env", choices=sorted(ZOO), nargs="*", default=sorted(ZOO))
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--libraries",
        choices=LIBRARIES,
        nargs="*",
        default=list(LIBRARIES),
        help="run only these (e.g. dqnlab again after its defaults changed)",
    )
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides for ours, to measure candidate defaults"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    common_tags = bench_tags(args.threads)
    for env in args.env:
        every = compose_config([f"env={env}"]).trainer.eval_every
        for seed in args.seeds:
            if "dqnlab" in args.libraries:
                print(f"{env} seed {seed}: dqnlab", flush=True)
                tags = common_tags | {"bench.library": "dqnlab"}
                run_dqnlab(args.store, env, seed, tags, args.threads, args.overrides)
            if "sb3" in args.libraries:
                print(f"{env} seed {seed}: sb3", flush=True)
                points = run_sb3(ZOO[env], seed, every)
                tags = common_tags | {"bench.library": "sb3", "seed": str(seed)}
                record_sb3(args.store, env, seed, points, tags)


if __name__ == "__main__":
    main()
