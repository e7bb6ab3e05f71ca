"""The documentation's result figures, redrawn from recorded runs and studies.

    python bench/plots.py curves --store runs-bench          # after bench/against_sb3.py
    python bench/plots.py sweep --storage sqlite:///optuna.db --store . \
        --study dqn-cartpole-defaults --by agent.lr_end agent.double_q

`curves`: for each `bench-<env>` experiment in `<store>/mlflow.db`, the greedy eval return
of each library against env steps (median over seeds, min-max band) and against wall time
(one line per seed), the solved threshold dashed; prints env steps and seconds to the
threshold per seed and their medians. `sweep`: a study's optimisation history (complete
and pruned trials, best so far), the env steps it spent against running every trial to the
end, and the trial values by each `--by` parameter. Each figure names the machine, the
seeds and the command its runs came from.
"""

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optuna
from common import first_reach, store_uri
from matplotlib.axes import Axes
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

THRESHOLDS = {"cartpole": 475.0, "lunarlander": 200.0}
TITLES = {"cartpole": "CartPole-v1", "lunarlander": "LunarLander-v3"}
COLORS = {"dqnlab": "tab:blue", "sb3": "tab:orange"}
LABELS = {"dqnlab": "dqnlab, shipped defaults", "sb3": "Stable-Baselines3, zoo settings"}
IMG = Path(__file__).resolve().parents[1] / "docs" / "img"

Curve = list[tuple[int, float, float]]  # (env step, seconds, eval return)


def run_curve(client: MlflowClient, run: Run) -> Curve:
    returns = {
        m.step: m.value for m in client.get_metric_history(run.info.run_id, "eval/return_mean")
    }
    seconds = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "eval/seconds")}
    return [(step, seconds[step], returns[step]) for step in sorted(returns) if step in seconds]


def draw_env(axes: tuple[Axes, Axes], env: str, curves: dict[str, dict[int, Curve]]) -> None:
    by_steps, by_time = axes
    for library, seeds in sorted(curves.items()):
        color = COLORS[library]
        steps = sorted(set.intersection(*(set(s for s, _, _ in c) for c in seeds.values())))
        table = np.array(
            [[dict((s, r) for s, _, r in c)[step] for step in steps] for c in seeds.values()]
        )
        by_steps.plot(steps, np.median(table, axis=0), color=color, label=LABELS[library])
        by_steps.fill_between(steps, table.min(axis=0), table.max(axis=0), color=color, alpha=0.2)
        for index, curve in enumerate(seeds.values()):
            by_time.plot(
                [t for _, t, _ in curve],
                [r for _, _, r in curve],
                color=color,
                alpha=0.6,
                label=LABELS[library] if index == 0 else None,
            )
    for ax, xlabel in ((by_steps, "env steps"), (by_time, "wall time, s (evaluations included)")):
        ax.axhline(THRESHOLDS[env], color="gray", linestyle="--", linewidth=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("greedy eval return (20 episodes)")
        ax.grid(alpha=0.3)
    by_steps.set_title(f"{TITLES[env]}: median and min-max over seeds")
    by_time.set_title(f"{TITLES[env]}: each seed against wall time")
    by_steps.legend(loc="lower right")


def report(env: str, curves: dict[str, dict[int, Curve]]) -> None:
    threshold = THRESHOLDS[env]
    medians = {}
    for library, seeds in sorted(curves.items()):
        reached = {seed: first_reach(curve, threshold) for seed, curve in sorted(seeds.items())}
        finals = [seeds[seed][-1][2] for seed in sorted(seeds)]  # in seed order
        medians[library] = statistics.median(t for _, t in reached.values())
        per_seed = ", ".join(f"s{seed} {s:g} steps {t:.1f} s" for seed, (s, t) in reached.items())
        print(
            f"{env} {library}: to {threshold:g}: {per_seed}; median "
            f"{statistics.median(s for s, _ in reached.values()):g} steps, "
            f"{medians[library]:.1f} s; final evals {', '.join(f'{f:.1f}' for f in finals)}"
        )
    if {"dqnlab", "sb3"} <= medians.keys():
        print(
            f"{env}: median wall time to {threshold:g}, SB3 / dqnlab = "
            f"{medians['sb3'] / medians['dqnlab']:.2f}x"
        )


def curves_figure(store: Path, output: Path) -> None:
    client = MlflowClient(store_uri(store))
    experiments = {
        e.name.removeprefix("bench-"): e
        for e in client.search_experiments()
        if e.name.startswith("bench-")
    }
    envs = [env for env in THRESHOLDS if env in experiments]
    fig, axes = plt.subplots(len(envs), 2, figsize=(13, 4.5 * len(envs)), squeeze=False)
    about, seeds = set(), {}
    for row, env in zip(axes, envs, strict=True):
        runs = client.search_runs(
            [experiments[env].experiment_id], "attributes.status = 'FINISHED'"
        )
        curves: dict[str, dict[int, Curve]] = defaultdict(dict)
        for run in runs:
            tags = run.data.tags
            curves[tags["bench.library"]][int(run.data.params["seed"])] = run_curve(client, run)
            about.add((tags["bench.machine"], tags["bench.threads"], tags["bench.command"]))
        draw_env((row[0], row[1]), env, curves)
        report(env, curves)
        seeds[env] = sorted({seed for run_seeds in curves.values() for seed in run_seeds})
    machines = "; ".join(f"{m}, {t} torch threads" for m, t in sorted({a[:2] for a in about}))
    commands = "; ".join(sorted(a[2] for a in about))
    used = ", ".join(f"{TITLES[env]} seeds {values}" for env, values in seeds.items())
    fig.text(0.01, 0.005, f"{used}. {machines}. {commands}", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(output, dpi=110)
    print(f"wrote {output}")


def trial_steps(trial: optuna.trial.FrozenTrial) -> int:
    """Env steps a trial trained: its last report's step (seed k reports at k * budget + step)."""
    return max(trial.intermediate_values, default=0)


def sweep_provenance(store: Path, study_name: str) -> str:
    """Machine, seeds and command of a study's trial runs, from their MLflow records."""
    client = MlflowClient(store_uri(store))
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        f"tags.`optuna.study` = '{study_name}'",
    )
    runs = [r for r in runs if "optuna.trial" in r.data.tags]  # not the study's own run
    seeds = sorted({int(r.data.params["seed"]) for r in runs})
    tags = runs[0].data.tags
    return (
        f"seeds {seeds[0]}-{seeds[-1]}; {tags['device.name']}, {tags['host.cpus']} CPUs; "
        f"command: python {tags['command']}"
    )


def sweep_figure(storage: str, study_name: str, by: list[str], store: Path, output: Path) -> None:
    study = optuna.load_study(study_name=study_name, storage=storage)
    finished = [
        t
        for t in study.trials
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
    full = max(trial_steps(t) for t in complete)
    spent = sum(trial_steps(t) for t in finished)
    fig, axes = plt.subplots(1, 2 + len(by), figsize=(5 * (2 + len(by)), 4.2), squeeze=False)
    history, steps, *params = axes[0]
    history.scatter(
        [t.number for t in complete],
        [t.value for t in complete],
        label="complete",
        color="tab:blue",
    )
    pruned = [t for t in finished if t.state == optuna.trial.TrialState.PRUNED]
    history.scatter(
        [t.number for t in pruned],
        [t.value for t in pruned],
        label="pruned (last report)",
        color="tab:gray",
        marker="x",
    )
    best = np.maximum.accumulate([t.value if t in complete else -np.inf for t in finished])
    history.step(
        [t.number for t in finished], best, where="post", color="tab:red", label="best so far"
    )
    history.set(title=f"{study_name}: optimisation history", xlabel="trial", ylabel="objective")
    history.legend(loc="lower right")
    steps.bar(
        ["every trial to the end", "spent (pruned early)"],
        [full * len(finished), spent],
        color=["tab:gray", "tab:blue"],
    )
    steps.set(
        title=f"env steps: {1 - spent / (full * len(finished)):.0%} saved by pruning",
        ylabel="env steps",
    )
    for ax, name in zip(params, by, strict=True):
        values = defaultdict(list)
        for trial in complete:
            values[str(trial.params[name])].append(trial.value)
        labels = sorted(values, key=_numeric_first)
        ax.boxplot([values[label] for label in labels], tick_labels=labels)
        ax.set(title=f"complete trials by {name}", xlabel=name, ylabel="objective")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    fig.text(
        0.01,
        0.01,
        f"{len(finished)} trials ({len(complete)} complete), study {study_name}; "
        + sweep_provenance(store, study_name),
        fontsize=7,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(output, dpi=110)
    print(
        f"wrote {output}: {len(finished)} trials, {spent:,} of {full * len(finished):,} env steps"
    )


def _numeric_first(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    curves = commands.add_parser("curves", help="learning curves from bench/against_sb3.py")
    curves.add_argument("--store", type=Path, required=True)
    curves.add_argument("--output", type=Path, default=IMG / "learning-curves.png")
    sweep = commands.add_parser("sweep", help="a study's history, pruning savings, parameters")
    sweep.add_argument("--storage", required=True)
    sweep.add_argument("--study", required=True)
    sweep.add_argument("--store", type=Path, required=True, help="folder of its MLflow store")
    sweep.add_argument("--by", nargs="*", default=[], help="parameters to split trial values by")
    sweep.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.command == "curves":
        curves_figure(args.store, args.output)
    else:
        output = args.output or IMG / f"sweep-{args.study}.png"
        sweep_figure(args.storage, args.study, args.by, args.store, output)


if __name__ == "__main__":
    main()
