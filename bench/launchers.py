"""Trials per minute of `sweep=cartpole` under each Hydra launcher, 2 workers each, in one run.

    python bench/launchers.py [--trials 6] [--steps 2000] [--rounds 2] [overrides …]

joblib (the default), submitit_local (the SLURM launcher's code path on one machine) and
ray (our launcher, against a local head this script starts with two logical GPUs) run the
same sweep in fresh temp dirs with the embedded SQLite stores, alternating in rounds (the
machine's speed drifts); each sweep is then checked as the tests check one (every trial
COMPLETE, recorded once in MLflow with all its metric points). Exits 1 on any problem.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import stop_on_sigterm
from servers import ray_head
from sweep_helpers import TrialBudget, audit_sweep, run_sweep

WORKERS = 2


def sweep_once(launcher_args: list[str], budget: TrialBudget, trials: int, extra: list[str]):
    """(seconds, problems) of one sweep in a fresh temp dir."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = run_sweep(
            Path(tmp),
            "-m",
            *launcher_args,
            *budget.overrides(),
            f"sweep.n_trials={trials}",
            f"sweep.workers={WORKERS}",
            "trainer.torch_threads=1",
            "device=cpu",
            *extra,
            timeout=3600,
        )
        seconds = time.perf_counter() - start
        if done.returncode:
            return seconds, [f"exit {done.returncode}: {done.stderr[-2000:]}"]
        return seconds, audit_sweep(Path(tmp), trials, WORKERS, budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--steps", type=int, default=2000, help="env steps per trial")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every trial")
    args = parser.parse_intermixed_args()
    stop_on_sigterm()
    budget = TrialBudget(args.steps, args.steps // 2, 200)
    launchers = {
        "joblib": ["hydra/launcher=joblib"],
        "submitit_local": ["hydra/launcher=submitit_local"],
        "ray": ["hydra/launcher=ray"],
    }
    seconds: dict[str, list[float]] = {name: [] for name in launchers}
    problems: list[str] = []
    with ray_head(gpus=WORKERS, cpus=WORKERS) as address:
        launchers["ray"].append(f"hydra.launcher.address={address}")
        for _ in range(args.rounds):
            for name, launcher_args in launchers.items():
                spent, found = sweep_once(launcher_args, budget, args.trials, args.overrides)
                seconds[name].append(spent)
                problems += [f"{name}: {p}" for p in found]
    print(
        f"sweep=cartpole, {WORKERS} workers, {args.trials} trials x {args.steps} env steps, "
        f"median of {args.rounds} alternating rounds:"
    )
    for name, spent in seconds.items():
        wall = statistics.median(spent)
        print(f"  {name:15s} {wall:6.0f} s  {args.trials / wall * 60:5.1f} trials/min  {spent}")
    print("exactly once: " + ("ok" if not problems else f"{len(problems)} problems"))
    for problem in problems:
        print(f"  {problem}")
    sys.exit(int(bool(problems)))


if __name__ == "__main__":
    main()
