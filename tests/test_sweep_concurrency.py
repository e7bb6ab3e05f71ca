"""Four workers on one machine share the embedded stores: every trial recorded exactly once."""

from pathlib import Path

from sweep_helpers import LOCK_ERROR, TrialBudget, audit_sweep, run_sweep

WORKERS = 4
N_TRIALS = 24  # 6 per worker; bench/sweep_concurrency.py runs 40 and more
# 400 env steps: 2 evaluations and 4 loss logs per run, about a second of training each.
BUDGET = TrialBudget(total_steps=400, eval_every=200, log_every=100)


def test_four_workers_record_every_trial_exactly_once(tmp_path: Path) -> None:
    done = run_sweep(
        tmp_path,
        "-m",
        *BUDGET.overrides(),
        f"sweep.n_trials={N_TRIALS}",
        f"sweep.workers={WORKERS}",
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert LOCK_ERROR not in output
    assert audit_sweep(tmp_path, N_TRIALS, WORKERS, BUDGET) == []
