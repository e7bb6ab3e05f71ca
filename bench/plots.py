"""The documentation's result figures, redrawn from recorded runs and studies.

    python bench/plots.py curves --store runs-bench          # after bench/against_sb3.py
    python bench/plots.py extensions --store runs-bench      # after bench/extensions.py
    python bench/plots.py sweep --storage sqlite:///optuna.db --store . \
        --study dqn-cartpole-defaults --by agent.lr_end agent.double_q

`curves`: for each `bench-<env>` experiment in `<store>/mlflow.db`, the greedy eval return
of each library against env steps (median over seeds, min-max band) and against wall time
(one line per seed), the solved threshold dashed; prints env steps and seconds to the
threshold per seed and their medians. `extensions`: the same for each variant of
`bench/extensions.py`, one panel each, vanilla DQN drawn in every panel. `sweep`: a study's
optimisation history (complete and pruned trials, best so far), the env steps it spent
against running every trial to the end, and the trial values by each `--by` parameter.
Each figure names the machine, the seeds and the command its runs came from.
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
from common import complete_trials, first_reach, load_study, store_uri
from extensions import BASES, VARIANTS
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mlflow.entities import Experiment, Run
from mlflow.tracking import MlflowClient

THRESHOLDS = {"cartpole": 475.0, "lunarlander": 200.0}
TITLES = {"cartpole": "CartPole-v1", "lunarlander": "LunarLander-v3"}
COLORS = {"dqnlab": "tab:blue", "sb3": "tab:orange"}
LABELS = {"dqnlab": "dqnlab, shipped defaults", "sb3": "Stable-Baselines3, zoo settings"}
LOWEST_SHOWN = -500  # the extensions figure's y axis: a crashed eval would squash the rest
IMG = Path(__file__).resolve().parents[1] / "docs" / "img"

Curve = list[tuple[int, float, float]]  # (env step, seconds, eval return)


def open_store(store: Path) -> MlflowClient:
    """A client of the kept store in `store`; refuse a folder that holds none (MLflow would
    create an empty one)."""
    if not (store / "mlflow.db").is_file():
        raise SystemExit(f"no MLflow store {store}/mlflow.db: give --store the benchmark's folder")
    return MlflowClient(store_uri(store))


def run_curve(client: MlflowClient, run: Run) -> Curve:
    returns = {
        m.step: m.value for m in client.get_metric_history(run.info.run_id, "eval/return_mean")
    }
    seconds = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "eval/seconds")}
    return [(step, seconds[step], returns[step]) for step in sorted(returns) if step in seconds]


def median_band(
    ax: Axes, seeds: dict[int, Curve], color: str, label: str | None, spread: bool = True
) -> None:
    """Median eval return over seeds against env steps, the min-max spread shaded."""
    steps = sorted(set.intersection(*(set(s for s, _, _ in c) for c in seeds.values())))
    table = np.array(
        [[dict((s, r) for s, _, r in c)[step] for step in steps] for c in seeds.values()]
    )
    ax.plot(steps, np.median(table, axis=0), color=color, label=label)
    if spread:
        ax.fill_between(steps, table.min(axis=0), table.max(axis=0), color=color, alpha=0.2)


def provenance(runs: list[Run]) -> str:
    """The machines, torch threads and commands that recorded `runs`, for a figure's footer."""
    about = {
        (r.data.tags["bench.machine"], r.data.tags["bench.threads"], r.data.tags["bench.command"])
        for r in runs
    }
    machines = "; ".join(f"{m}, {t} torch threads" for m, t in sorted({a[:2] for a in about}))
    return f"{machines}. {'; '.join(sorted({a[2] for a in about}))}"


def footer_height(footer: str, fig: Figure) -> float:
    """The share of the figure's height a wrapped 7-point footer takes, its axes kept above."""
    lines = 1 + len(footer) // 230  # about 230 characters of 7-point text per 13-inch line
    return min(0.2, lines * 0.14 / fig.get_figheight())


def latest_runs(
    client: MlflowClient, experiment: Experiment, group: str
) -> dict[str, dict[int, Run]]:
    """The experiment's finished runs (a stopped or crashed one is left out of figures) by the
    tag `group` (library or variant) and seed; a later run of both replaces an earlier one."""
    runs = client.search_runs(
        [experiment.experiment_id],
        "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
    )
    latest: dict[str, dict[int, Run]] = defaultdict(dict)
    for run in runs:
        latest[run.data.tags[group]][int(run.data.params["seed"])] = run
    return latest


def every_run(runs: dict[str, dict[int, Run]]) -> list[Run]:
    """The runs of `latest_runs`, in one list."""
    return [run for by_seed in runs.values() for run in by_seed.values()]


def curves_of(client: MlflowClient, runs: dict[str, dict[int, Run]]) -> dict[str, dict[int, Curve]]:
    """Each run's eval curve, by group and seed as `latest_runs` gives them."""
    return {
        group: {seed: run_curve(client, run) for seed, run in by_seed.items()}
        for group, by_seed in runs.items()
    }


def draw_env(axes: tuple[Axes, Axes], env: str, curves: dict[str, dict[int, Curve]]) -> None:
    by_steps, by_time = axes
    for library, seeds in sorted(curves.items()):
        color = COLORS[library]
        median_band(by_steps, seeds, color, LABELS[library])
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


def report(name: str, threshold: float, curves: dict[str, dict[int, Curve]]) -> dict[str, float]:
    """Print env steps and seconds to `threshold` and the final evals of each group of
    curves (a library or a variant), seed by seed; return each group's median seconds."""
    medians = {}
    for group, seeds in curves.items():
        reached = {seed: first_reach(curve, threshold) for seed, curve in sorted(seeds.items())}
        finals = [seeds[seed][-1][2] for seed in sorted(seeds)]  # in seed order
        medians[group] = statistics.median(t for _, t in reached.values())
        per_seed = ", ".join(f"s{seed} {s:g} steps {t:.1f} s" for seed, (s, t) in reached.items())
        print(
            f"{name} {group}: to {threshold:g}: {per_seed}; median "
            f"{statistics.median(s for s, _ in reached.values()):g} steps, "
            f"{medians[group]:.1f} s; final evals {', '.join(f'{f:.1f}' for f in finals)}"
        )
    return medians


def curves_figure(store: Path, output: Path) -> None:
    client = open_store(store)
    experiments = {
        e.name.removeprefix("bench-"): e
        for e in client.search_experiments()
        if e.name.startswith("bench-")
    }
    envs = [env for env in THRESHOLDS if env in experiments]
    if not envs:
        raise SystemExit(f"no bench-cartpole or bench-lunarlander experiment in {store}/mlflow.db")
    fig, axes = plt.subplots(len(envs), 2, figsize=(13, 4.5 * len(envs)), squeeze=False)
    drawn, seeds = [], {}
    for row, env in zip(axes, envs, strict=True):
        runs = latest_runs(client, experiments[env], "bench.library")
        drawn += every_run(runs)
        curves = curves_of(client, runs)
        draw_env((row[0], row[1]), env, curves)
        medians = report(env, THRESHOLDS[env], dict(sorted(curves.items())))
        if {"dqnlab", "sb3"} <= medians.keys():
            print(
                f"{env}: median wall time to {THRESHOLDS[env]:g}, SB3 / dqnlab = "
                f"{medians['sb3'] / medians['dqnlab']:.2f}x"
            )
        seeds[env] = sorted({seed for run_seeds in curves.values() for seed in run_seeds})
    used = ", ".join(f"{TITLES[env]} seeds {values}" for env, values in seeds.items())
    footer = f"{used}. {provenance(drawn)}"
    fig.text(0.01, 0.005, footer, fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, footer_height(footer, fig), 1, 1))
    fig.savefig(output, dpi=110)
    print(f"wrote {output}")


def extensions_figure(store: Path, base: str, output: Path) -> None:
    """One panel per variant of bench/extensions.py: its median and min-max eval return over
    seeds against env steps, vanilla DQN's median drawn in each for reference."""
    client = open_store(store)
    name = f"bench-extensions-{base}"
    experiment = client.get_experiment_by_name(name)
    runs = latest_runs(client, experiment, "bench.variant") if experiment else {}
    if not runs:
        raise SystemExit(f"no finished run in experiment {name} of {store}/mlflow.db")
    curves = curves_of(client, runs)
    variants = [v for v in VARIANTS if v in curves]
    threshold = THRESHOLDS["lunarlander"]
    report(name, threshold, {v: curves[v] for v in variants})
    columns = min(4, -(-len(variants) // 2))
    rows = -(-len(variants) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4 * columns, 3.3 * rows), sharex=True, sharey=True, squeeze=False
    )
    for ax, variant in zip(axes.flat, variants, strict=False):
        if variant != "vanilla" and "vanilla" in curves:
            median_band(ax, curves["vanilla"], "tab:gray", "vanilla (median)", spread=False)
        median_band(ax, curves[variant], "tab:blue", variant)
        seeds = curves[variant]
        steps = statistics.median(first_reach(c, threshold)[0] for c in seeds.values())
        finals = statistics.mean(c[-1][2] for c in seeds.values())
        reached = "never" if steps == float("inf") else f"{steps / 1000:g}k steps"
        ax.set_title(f"{variant}: {threshold:g} at {reached}, final mean {finals:.0f}", fontsize=9)
        ax.axhline(threshold, color="gray", linestyle="--", linewidth=1)
        ax.set_ylim(LOWEST_SHOWN, 320)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    for ax in axes.flat[len(variants) :]:
        ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel("env steps")
    for ax in axes[:, 0]:
        ax.set_ylabel("greedy eval return (20 episodes)")
    seeds_used = sorted({seed for by_seed in curves.values() for seed in by_seed})
    fig.suptitle(f"DQN extensions on LunarLander-v3 ({base} settings)")
    about = f"Median and min-max over seeds {seeds_used}, returns below {LOWEST_SHOWN} cut off."
    fig.text(0.01, 0.005, f"{about} {provenance(every_run(runs))}", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(output, dpi=110)
    print(f"wrote {output}")


def trial_steps(trial: optuna.trial.FrozenTrial) -> int:
    """Env steps a trial trained: its last report's step (seed k reports at k * budget + step)."""
    return max(trial.intermediate_values, default=0)


def sweep_provenance(store: Path, study_name: str) -> str:
    """Machine, seeds and command of a study's trial runs, from their MLflow records."""
    client = open_store(store)
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
    study = load_study(storage, study_name)
    finished = [
        t
        for t in study.trials
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    complete = complete_trials(study)
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
    extensions = commands.add_parser("extensions", help="from bench/extensions.py --store")
    extensions.add_argument("--store", type=Path, required=True)
    extensions.add_argument("--base", choices=list(BASES), default="zoo")
    extensions.add_argument("--output", type=Path)
    sweep = commands.add_parser("sweep", help="a study's history, pruning savings, parameters")
    sweep.add_argument("--storage", required=True)
    sweep.add_argument("--study", required=True)
    sweep.add_argument("--store", type=Path, required=True, help="folder of its MLflow store")
    sweep.add_argument("--by", nargs="*", default=[], help="parameters to split trial values by")
    sweep.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.command == "curves":
        curves_figure(args.store, args.output)
    elif args.command == "extensions":
        output = args.output or IMG / f"extensions-{args.base}.png"
        extensions_figure(args.store, args.base, output)
    else:
        output = args.output or IMG / f"sweep-{args.study}.png"
        sweep_figure(args.storage, args.study, args.by, args.store, output)


if __name__ == "__main__":
    main()
