"""DQN extensions side by side on LunarLander-v3: env steps and wall time to 200, final eval.

    python bench/extensions.py                                  # every variant, seeds 0-2
    python bench/extensions.py --variants vanilla rainbow_lite --seeds 0 --jobs 2
    python bench/extensions.py --base defaults --variants vanilla nstep3 --jobs 2
    python bench/extensions.py --store runs-bench --jobs 2 --variants vanilla double dueling \
        per nstep3 rainbow_lite boltzmann noisy       # kept: python bench/plots.py extensions

Every variant starts from a base (`BASES`) and changes only the keys it names; all run the
same fixed budget of env steps with a 20-episode greedy eval every 5,000 steps. `--jobs 2`
runs two trainings at once with one torch thread each: wall times are then comparable with
each other, not with a run that had the machine to itself. With `--store DIR` every run is
kept in `DIR/mlflow.db`, experiment `bench-extensions-<base>`, tagged `bench.variant`,
`bench.machine`, `bench.threads` and `bench.command`, with `eval/seconds` beside its eval
curve; without it the runs are thrown away. Ctrl-C or SIGTERM stops the trainings under
way, whose runs end recorded as killed, and starts no more.
"""

import argparse
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from common import annotate_run, bench_tags, create_experiment, first_reach, median, run_ours

from dqnlab.checkpointing.signals import StopRequested, workers_handle_stop_signals

THRESHOLD = 200.0


@dataclass(frozen=True)
class Base:
    """The settings every variant starts from, and its budget of env steps."""

    overrides: list[str]
    steps: int


BASES: dict[str, Base] = {
    # The zoo's one update per env step at its constant lr (6.3e-4), discount 0.99, 1-step returns,
    # epsilon decayed over 12k steps, over 100k steps.
    "zoo": Base(
        [
            "env=lunarlander",
            "agent.gradient_steps=4",
            "agent.gamma=0.99",
            "agent.lr=6.3e-4",
            "agent.lr_end=null",
            "agent.n_step=1",
            "exploration.decay_steps=12000",
            "network.layer_norm=false",
        ],
        100_000,
    ),
    # The env's shipped defaults (2 updates per 4 env steps, the lr decayed over 200k steps)
    # with 1-step returns, the discount of 0.99 and no layer norm, as its figures were
    # measured, so that each variant adds its own extensions.
    "defaults": Base(
        ["env=lunarlander", "agent.n_step=1", "agent.gamma=0.99", "network.layer_norm=false"],
        200_000,
    ),
}

# Each extension alone on top of vanilla DQN, two pairs with Double DQN (the env default), then
# the ready-made combination.
VARIANTS: dict[str, list[str]] = {
    "vanilla": ["agent.double_q=false"],
    "double": ["agent.double_q=true"],
    "dueling": ["agent.double_q=false", "network.dueling=true"],
    "per": ["agent.double_q=false", "buffer=prioritized"],
    "nstep3": ["agent.double_q=false", "agent.n_step=3"],
    "boltzmann": ["agent.double_q=false", "exploration=boltzmann"],
    "noisy": [  # exploration from the learned noise alone, as Fortunato et al. 2018
        "agent.double_q=false",
        "network.noisy=true",
        "exploration.start=0",
        "exploration.end=0",
    ],
    "double_dueling": ["agent.double_q=true", "network.dueling=true"],
    "double_nstep3": ["agent.double_q=true", "agent.n_step=3"],
    "rainbow_lite": ["agent=rainbow_lite"],
    # The shape of the best trial of a 24-trial sweep=extensions search for learning speed
    # (mean of all evals; that trial had lr 7.8e-4), here at the env's own lr.
    "boltzmann_nstep3": ["agent.double_q=false", "exploration=boltzmann", "agent.n_step=3"],
}


@dataclass(frozen=True)
class Outcome:
    """One training run's figures."""

    variant: str
    seed: int
    steps_to_target: float  # inf: never reached
    seconds_to_target: float  # inf: never reached
    final_eval: float
    steps_per_second: float


@dataclass(frozen=True)
class Keep:
    """Where to keep the runs, and the tags that say where they came from."""

    store: Path
    experiment: str
    tags: dict[str, str]


def train_variant(
    base: Base, variant: str, seed: int, total_steps: int, threads: int, keep: Keep | None
) -> Outcome | None:
    """One training in a worker; None when a stop signal ended it (its run is recorded as
    killed)."""
    overrides = [
        *base.overrides,
        *VARIANTS[variant],
        f"seed={seed}",
        f"trainer.total_steps={total_steps}",
        "trainer.eval_every=5000",
        "trainer.eval_episodes=20",
        f"trainer.torch_threads={threads}",
        "device=cpu",
    ]
    try:
        if keep is None:
            result = run_ours(overrides)
        else:
            kept = [f"tracking.experiment={keep.experiment}", "trainer.checkpoint_buffer=false"]
            result = run_ours([*overrides, *kept], keep.store)
    except StopRequested:
        return None
    if keep is not None:
        annotate_run(keep.store, result, keep.tags | {"bench.variant": variant})
    step, seconds = first_reach([(e.step, e.seconds, e.mean) for e in result.evals], THRESHOLD)
    return Outcome(variant, seed, step, seconds, result.final_eval, result.steps / result.seconds)


def shown(value: float, never: str) -> str:
    """Steps or seconds to the target, or `never` when it was not reached (inf)."""
    return never if value == float("inf") else f"{value:.0f}"


def table(outcomes: list[Outcome], variants: list[str]) -> str:
    """A Markdown table: medians over seeds, per-seed values in brackets."""
    rows = [
        "| variant | env steps to 200 (median; per seed) | wall s to 200 (median) "
        "| final eval (mean; per seed) | env steps/s |",
        "|---|---|---|---|---|",
    ]
    for variant in variants:
        mine = sorted((o for o in outcomes if o.variant == variant), key=lambda o: o.seed)
        if not mine:
            continue
        per_seed_steps = ", ".join(shown(o.steps_to_target, "never") for o in mine)
        finals = [o.final_eval for o in mine]
        rows.append(
            f"| {variant} | {shown(median([o.steps_to_target for o in mine]), 'never')} "
            f"({per_seed_steps}) | {shown(median([o.seconds_to_target for o in mine]), '-')} "
            f"| {sum(finals) / len(finals):.1f} ({', '.join(f'{f:.0f}' for f in finals)}) "
            f"| {median([o.steps_per_second for o in mine]):.0f} |"
        )
    return "\n".join(rows)


def train_in_workers(
    base: Base,
    trainings: list[tuple[str, int]],
    steps: int,
    threads: int,
    keep: Keep | None,
    jobs: int,
) -> tuple[list[Outcome], int | None]:
    """Each (variant, seed) in one of `jobs` worker processes, printed as it ends; the exit
    status a stop signal asks for, or None.

    Trainings are handed out one at a time as workers free up, so that after a stop no
    queued one starts: on SIGTERM the workers' runs stop at their next env step, recorded
    as killed.
    """
    outcomes: list[Outcome] = []
    pending = list(trainings)
    # spawn: a fresh interpreter per worker, nothing inherited from this process's torch.
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(jobs, mp_context=context) as pool,
        workers_handle_stop_signals() as stop,
    ):
        running: set[Future[Outcome | None]] = set()
        while pending or running:
            while pending and len(running) < jobs and stop.signum is None:
                variant, seed = pending.pop(0)
                running.add(pool.submit(train_variant, base, variant, seed, steps, threads, keep))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            if stop.signum is not None:
                pending.clear()
                continue
            for future in done:
                o = future.result()
                if o is None:  # that worker alone was stopped
                    continue
                outcomes.append(o)
                print(
                    f"{o.variant} seed {o.seed}: first eval >= {THRESHOLD:g} at step "
                    f"{o.steps_to_target} after {o.seconds_to_target:.0f} s; final eval "
                    f"{o.final_eval:.1f}; {o.steps_per_second:.0f} env steps/s",
                    flush=True,
                )
    return outcomes, stop.exit_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--base", choices=list(BASES), default="zoo")
    parser.add_argument("--steps", type=int, help="fixed budget per run (default: the base's)")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run at once")
    parser.add_argument("--store", type=Path, help="keep the runs in this folder's MLflow store")
    args = parser.parse_args()
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    base = BASES[args.base]
    steps = args.steps or base.steps
    experiment = f"bench-extensions-{args.base}"
    keep = Keep(args.store, experiment, bench_tags(threads)) if args.store else None
    if keep:
        create_experiment(keep.store, keep.experiment)
    trainings = [(variant, seed) for variant in args.variants for seed in args.seeds]
    outcomes, exit_status = train_in_workers(base, trainings, steps, threads, keep, args.jobs)
    if exit_status is not None:
        sys.exit(exit_status)
    print(table(outcomes, args.variants))


if __name__ == "__main__":
    main()
