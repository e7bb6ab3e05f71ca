"""Sweep workers sharing the embedded stores: throughput, lock errors, exactly-once records.

    python bench/sweep_concurrency.py [--workers 4] [--trials 40] [--steps 5000]
        [--eval-every 1000] [--log-every 500] [overrides …]

Runs `src/sweep.py -m` on CartPole with the default SQLite stores (optuna.db, mlflow.db,
mlruns/) in a fresh temp dir, then checks what the stores hold as
tests/test_sweep_concurrency.py does: every trial COMPLETE and recorded by exactly one
FINISHED MLflow run, with the metric points its training logged. Exits 1 on any problem.
--steps must be a multiple of --eval-every and --log-every, and --log-every of 4.

Measured on a 2-core CPU box shared with other jobs: 4 workers, 40 trials x 2,000 steps
(--eval-every 500 --log-every 200): 131 s wall, 18.4 trials/min, no lock error, exactly once.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

# The checks are the test suite's own, not a copy of them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from sweep_helpers import LOCK_ERROR, TrialBudget, audit_sweep, run_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--steps", type=int, default=5000, help="env steps per trial")
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--log-every", type=int, default=500)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every trial")
    args = parser.parse_intermixed_args()
    budget = TrialBudget(args.steps, args.eval_every, args.log_every)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = run_sweep(
            Path(tmp),
            "-m",
            *budget.overrides(),
            f"sweep.n_trials={args.trials}",
            f"sweep.workers={args.workers}",
            *args.overrides,
            timeout=24 * 3600,
        )
        seconds = time.perf_counter() - start
        output = done.stdout + done.stderr
        if done.returncode:
            problems = [f"the sweep exited with status {done.returncode}: {output[-3000:]}"]
        else:
            problems = audit_sweep(Path(tmp), args.trials, args.workers, budget)

    lock_errors = sum(LOCK_ERROR in line for line in output.splitlines())
    print(
        f"{args.workers} workers, {args.trials} trials x {args.steps} env steps: "
        f"{seconds:.0f} s wall, {args.trials / seconds * 60:.1f} trials/min, "
        f"{lock_errors} '{LOCK_ERROR}' lines"
    )
    print("exactly once: " + ("ok" if not problems else f"{len(problems)} problems"))
    for problem in problems:
        print(f"  {problem}")
    sys.exit(int(lock_errors > 0 or bool(problems)))


if __name__ == "__main__":
    main()
