"""Replay each pruner option on a finished unpruned study: what it would have saved and kept.

    python bench/pruning_replay.py sqlite:///optuna.db dqn-lunarlander
    python bench/pruning_replay.py sqlite:///optuna.db dqn-cartpole --sweep cartpole
    python bench/pruning_replay.py sqlite:///optuna.db dqn-lunarlander --pruners patient \
        --set sweep.pruner.patience=3        # an option with other arguments

Each pruner is built as `python src/sweep.py sweep=<--sweep> pruner=<name>` would build it.

Every complete trial's recorded reports are fed again, in the order the study made them
(each report's time interpolated between its trial's start and end), to a fresh in-memory
study run by the pruner, the real Optuna code path: a pruned trial keeps the steps it had
reached, and the pruner only ever sees trials finished before it. No trial is asked before
its warm-up (the trial's `prune_warmup_steps` attribute, or `sweep.prune_after_steps` if
later; counted in one seed's env steps, so replay studies of one seed per trial). The
sampler is not replayed: a pruned sweep's later trials would differ, as its sampler learns
from fewer complete ones.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import optuna
from common import complete_trials, load_study
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from optuna.trial import FrozenTrial, TrialState

from dqnlab.config.cli import CONF_DIR
from dqnlab.sweep.definitions import register_sweep_definitions
from dqnlab.sweep.objective import WARMUP_ATTR
from dqnlab.sweep.study import build_pruner

PRUNERS = ["median", "patient", "successive_halving", "hyperband", "threshold"]


@dataclass(frozen=True)
class Replay:
    """What one pruner would have done to the study's trials."""

    pruned_at: dict[int, int]  # trial number -> env step it was stopped at
    env_steps: int  # steps trained, pruned trials up to where they stopped
    best_value: float  # best value among the trials left to finish (-inf: none finished)


def report_times(trial: FrozenTrial) -> list[tuple[datetime, int, float]]:
    """(time, step, value) of each report, spread over the trial's run like its steps."""
    start, end = trial.datetime_start, trial.datetime_complete
    last = max(trial.intermediate_values)
    return [
        (start + (end - start) * (step / last), step, value)
        for step, value in sorted(trial.intermediate_values.items())
    ]


def replay(
    trials: list[FrozenTrial], pruner: optuna.pruners.BasePruner, prune_after_steps: int = 0
) -> Replay:
    """Feed the trials' reports to `pruner` in the order they were made (sweeps maximise)."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    events = [(t.datetime_start, t.number, None, 0.0) for t in trials]
    events += [(at, t.number, step, value) for t in trials for at, step, value in report_times(t)]
    events.sort(key=lambda e: (e[0], e[2] is not None))
    by_number = {t.number: t for t in trials}
    live: dict[int, optuna.Trial] = {}
    pruned_at: dict[int, int] = {}
    for _, number, step, value in events:
        if step is None:
            live[number] = study.ask()
            continue
        if number in pruned_at:
            continue
        original, trial = by_number[number], live[number]
        trial.report(value, step)
        if step == max(original.intermediate_values):
            study.tell(trial, original.value)
        elif (
            step >= max(original.user_attrs.get(WARMUP_ATTR, 0), prune_after_steps)
            and trial.should_prune()
        ):
            study.tell(trial, state=TrialState.PRUNED)
            pruned_at[number] = step
    steps = sum(pruned_at.get(t.number, max(t.intermediate_values)) for t in trials)
    best = max((t.value for t in trials if t.number not in pruned_at), default=float("-inf"))
    return Replay(pruned_at, steps, best)


def print_replays(
    study: optuna.Study, sweep: str, pruners: list[str], overrides: Sequence[str] = ()
) -> None:
    """One line per pruner option: what it would have stopped, saved and kept of `study`."""
    trials = complete_trials(study)
    full = sum(max(t.intermediate_values) for t in trials)
    best = max(trials, key=lambda t: t.value)
    print(
        f"replayed on {len(trials)} complete trials, {full:,} env steps, best value "
        f"{best.value:.1f} (trial {best.number}):"
    )
    register_sweep_definitions()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for name in pruners:
            node = compose("sweep", [f"sweep={sweep}", f"pruner={name}", *overrides])
            result = replay(trials, build_pruner(node.sweep.pruner), node.sweep.prune_after_steps)
            stops = ", ".join(f"t{n}@{s // 1000}k" for n, s in sorted(result.pruned_at.items()))
            kept = "kept" if best.number not in result.pruned_at else "pruned"
            option = " ".join([f"pruner={name}", *overrides])
            print(
                f"  {option}: {len(result.pruned_at)} pruned ({stops or 'none'}); "
                f"saves {1 - result.env_steps / full:.1%} of env steps; best value "
                f"{result.best_value:.1f}, the unpruned best {kept}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("storage")
    parser.add_argument("study")
    parser.add_argument("--sweep", default="lunarlander", help="definition the pruners come from")
    parser.add_argument("--pruners", nargs="+", choices=PRUNERS, default=PRUNERS)
    parser.add_argument("--set", nargs="+", default=[], help="overrides, e.g. sweep.pruner.x=1")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print_replays(
        load_study(args.storage, args.study),
        args.sweep,
        args.pruners,
        args.set,
    )


if __name__ == "__main__":
    main()
