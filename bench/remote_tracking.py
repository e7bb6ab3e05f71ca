"""Cost of a tracking server: env steps/s of one CartPole run logging to a local SQLite store
vs to an `mlflow server` on loopback, run alternately in one process.

    python bench/remote_tracking.py [--steps 20000] [--repeats 3] [overrides …]

The server is the one the tests start (SQLite backend, local artifacts, one web worker).
Every run logs the default metrics (train/* every trainer.log_every steps, each episode,
each evaluation), sends them every tracking.flush_every_s, and logs its best model.
"""

import argparse
import contextlib
import logging
import statistics
import sys
import tempfile
from pathlib import Path

import mlflow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import compose_config, stop_on_sigterm
from servers import MlflowServer

from dqnlab.training.run import run


def steps_per_second(uri: str, overrides: list[str], workdir: Path) -> float:
    cfg = compose_config([*overrides, f"tracking.uri={uri}"])
    with contextlib.chdir(workdir):
        result = run(cfg)
    mlflow.set_tracking_uri(None)
    return result.steps / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = parser.parse_intermixed_args()
    stop_on_sigterm()
    logging.getLogger("dqnlab").setLevel(logging.WARNING)
    overrides = [f"trainer.total_steps={args.steps}", "trainer.torch_threads=1", *args.overrides]
    speeds: dict[str, list[float]] = {"sqlite": [], "server": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = MlflowServer(f"sqlite:///{workdir / 'server.db'}", str(workdir / "artifacts"))
        server.start()
        try:
            for _ in range(args.repeats):  # alternate: the machine's speed drifts
                speeds["sqlite"].append(
                    steps_per_second(f"sqlite:///{workdir / 'local.db'}", overrides, workdir)
                )
                speeds["server"].append(steps_per_second(server.url, overrides, workdir))
        finally:
            server.stop()
    local, remote = (statistics.median(speeds[k]) for k in ("sqlite", "server"))
    print(f"CartPole, {args.steps} env steps, median of {args.repeats} alternating runs:")
    print(f"  sqlite:/// store      {local:8.0f} env steps/s  {speeds['sqlite']}")
    print(f"  mlflow server (http)  {remote:8.0f} env steps/s  {speeds['server']}")
    print(f"  server / sqlite: {remote / local:.2f}")


if __name__ == "__main__":
    main()
