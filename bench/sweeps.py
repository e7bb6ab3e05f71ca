"""Sweep benchmarks: what pruning saves, and what the default sweep delivers.

    python bench/sweeps.py pruning [--sweep cartpole] [overrides …] [--pruners median none]
        the same sweep (same sampler seed) with each pruner, one after the other: total
        env steps, wall time, best value and the champion's fresh-seed return of each;
        then every pruner option replayed on the unpruned sweep's trials (pruning_replay.py)
    python bench/sweeps.py champion [--sweep lunarlander] [overrides …]
        the sweep as a user runs it (-m), timed; then the champion model is evaluated
        greedily over 20 episodes on seeds no training or evaluation used

Each sweep runs `src/sweep.py -m` in a fresh dir with its own MLflow and Optuna stores: a
temp dir, or `--keep DIR`/<pruner> (pruning) or `--keep DIR` (champion), kept for a later look
(`mlflow ui --backend-store-uri sqlite:///DIR/none/mlflow.db`, pruning_replay.py on its study).
"""

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import optuna
import torch
from optuna.trial import TrialState
from pruning_replay import PRUNERS, print_replays

from dqnlab.envs.factory import make_vector_env
from dqnlab.evaluation.greedy import evaluate_greedy

SWEEP_PY = Path(__file__).resolve().parents[1] / "src" / "sweep.py"
FRESH_SEED = 424_242  # far from the training, eval (seed + 1,000,000) and test (+ 2,000,000) seeds
ENV_IDS = {"cartpole": "CartPole-v1", "lunarlander": "LunarLander-v3"}


def run_sweep(workdir: Path, sweep: str, overrides: list[str]) -> tuple[optuna.Study, float]:
    """Run one sweep with -m in `workdir`; return its study and wall seconds."""
    env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(SWEEP_PY), "-m", f"sweep={sweep}", *overrides],
        cwd=workdir,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    storage = f"sqlite:///{workdir / 'optuna.db'}"
    return optuna.load_study(study_name=f"dqn-{sweep}", storage=storage), seconds


def trained_steps(study: optuna.Study) -> int:
    """Env steps the study's trials trained: each trial up to its last evaluation."""
    return sum(max(t.intermediate_values, default=0) for t in study.trials)


def summary(study: optuna.Study) -> str:
    states = {s.name: sum(t.state == s for t in study.trials) for s in TrialState}
    counts = ", ".join(f"{n} {name.lower()}" for name, n in states.items() if n)
    return f"{counts}; {trained_steps(study):,} env steps; best value {study.best_value:.1f}"


def sweep_dir(keep: Path | None) -> contextlib.AbstractContextManager[str]:
    """A fresh dir for one sweep's stores: `keep` (created, must be new) or a temp dir."""
    if keep is None:
        return tempfile.TemporaryDirectory()
    keep.mkdir(parents=True)
    return contextlib.nullcontext(str(keep))


def pruning(sweep: str, pruners: list[str], overrides: list[str], keep: Path | None) -> None:
    results = {}
    for pruner in pruners:
        with sweep_dir(keep and keep / pruner) as tmp:
            study, seconds = run_sweep(Path(tmp), sweep, [f"pruner={pruner}", *overrides])
            results[pruner] = (trained_steps(study), seconds, study.best_value)
            print(f"pruner={pruner}: {seconds:.0f} s; {summary(study)}", flush=True)
            evaluate_champion(Path(tmp), sweep)
            if pruner == "none":
                print_replays(study, sweep, PRUNERS)
    if "none" not in results:
        return
    steps_off, s_off, best_off = results.pop("none")
    for pruner, (steps_on, s_on, best_on) in results.items():
        print(
            f"pruner={pruner} saved {1 - steps_on / steps_off:.0%} of env steps and "
            f"{1 - s_on / s_off:.0%} of wall time; best value {best_on:.1f} vs {best_off:.1f}"
        )


def champion(sweep: str, overrides: list[str], keep: Path | None) -> None:
    with sweep_dir(keep) as tmp:
        study, seconds = run_sweep(Path(tmp), sweep, overrides)
        print(f"sweep: {seconds / 60:.1f} min; {summary(study)}", flush=True)
        evaluate_champion(Path(tmp), sweep)


def evaluate_champion(workdir: Path, sweep: str) -> None:
    """Play the sweep's `champion` model greedily on 20 episodes no trial has seen."""
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    model = mlflow.pytorch.load_model(f"models:/dqn-{sweep}@champion")
    mlflow.set_tracking_uri(None)
    envs = make_vector_env(ENV_IDS[sweep], 20)
    result = evaluate_greedy(model, envs, FRESH_SEED, torch.device("cpu"))
    envs.close()
    print(
        f"champion on 20 fresh episodes: mean {result.mean:.1f}, std {result.std:.1f}, "
        f"min {result.returns.min():.1f}, max {result.returns.max():.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=["pruning", "champion"])
    parser.add_argument("--sweep", choices=sorted(ENV_IDS))
    parser.add_argument(
        "--pruners",
        nargs="+",
        choices=[*PRUNERS, "none"],
        default=["median", "none"],
        help="pruning only; give Hydra overrides before it",
    )
    parser.add_argument("--keep", type=Path, help="a new dir to keep the sweeps' stores in")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every trial")
    args = parser.parse_intermixed_args()
    if args.benchmark == "pruning":
        pruning(args.sweep or "cartpole", args.pruners, args.overrides, args.keep)
    else:
        champion(args.sweep or "lunarlander", args.overrides, args.keep)


if __name__ == "__main__":
    main()
