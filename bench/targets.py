"""Time to the issue's targets with the embedded defaults, over several seeds.

    python bench/targets.py      # CartPole (5 seeds, >= 475), LunarLander (3 seeds, >= 200)
    python bench/targets.py --env cartpole --seeds 0 1 2 3 4

Wall time is measured from the start of the training loop (after imports and set-up) to
the first greedy evaluation (20 episodes, fixed seeds) at or above the threshold.
"""

import argparse

from common import first_reach, median, run_ours

TARGETS = {"cartpole": (475.0, 5), "lunarlander": (200.0, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(TARGETS), nargs="*", default=sorted(TARGETS))
    parser.add_argument("--seeds", type=int, nargs="*")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    for env in args.env:
        threshold, n_seeds = TARGETS[env]
        seeds = args.seeds if args.seeds is not None else list(range(n_seeds))
        rows = []
        for seed in seeds:
            result = run_ours(
                [f"env={env}", f"seed={seed}", "trainer.eval_episodes=20", *args.overrides]
            )
            step, seconds = first_reach(
                [(e.step, e.seconds, e.mean) for e in result.evals], threshold
            )
            rows.append((seed, step, seconds, result.final_eval, result.steps, result.seconds))
            print(
                f"{env} seed {seed}: first eval >= {threshold:g} at step {step} after "
                f"{seconds:.1f} s; final eval {result.final_eval:.1f} at step {result.steps} "
                f"({result.steps / result.seconds:.0f} steps/s, {result.seconds:.0f} s)",
                flush=True,
            )
        print(
            f"{env}: median time to {threshold:g}: {median([r[2] for r in rows]):.1f} s, "
            f"median steps {median([r[1] for r in rows]):.0f}, "
            f"min final eval {min(r[3] for r in rows):.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
