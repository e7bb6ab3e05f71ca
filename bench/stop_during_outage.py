"""How long SIGTERM takes to stop a run whose tracking server went away.

    python bench/stop_during_outage.py [--away-s 5 40] [--steps 200000]

For each case, a CartPole run logs to an `mlflow server` on loopback (the tests' one); after
--warmup-s the server is stopped (refuses connections) or frozen with SIGSTOP (accepts
them, never answers) for --away-s seconds, then the run gets SIGTERM. Prints the exit
status (75: checkpointed, resumable) and the seconds from the signal to the exit.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import stop_on_sigterm
from servers import MlflowServer

TRAIN_PY = Path(__file__).resolve().parents[1] / "src" / "train.py"


def stop_during_outage(how: str, away_s: float, warmup_s: float, steps: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = MlflowServer(f"sqlite:///{workdir / 'server.db'}", str(workdir / "artifacts"))
        server.start()
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        command = [
            sys.executable,
            str(TRAIN_PY),
            f"trainer.total_steps={steps}",
            f"tracking.uri={server.url}",
            "tracking.flush_every_s=1",
            f"trainer.checkpoint_dir={workdir / 'checkpoints'}",
        ]
        with (workdir / "train.log").open("w") as log:
            run = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
        time.sleep(warmup_s)
        if how == "stopped":
            server.stop()
        else:
            os.killpg(server.process.pid, signal.SIGSTOP)
        time.sleep(away_s)
        start = time.monotonic()
        run.send_signal(signal.SIGTERM)
        status = run.wait(timeout=900)
        seconds = time.monotonic() - start
        if how == "frozen":
            os.killpg(server.process.pid, signal.SIGCONT)
        server.stop()
        return status, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--away-s", type=float, nargs="+", default=[5, 40])
    parser.add_argument("--warmup-s", type=float, default=25)
    parser.add_argument("--steps", type=int, default=200000)
    args = parser.parse_args()
    stop_on_sigterm()
    for how in ("stopped", "frozen"):
        for away_s in args.away_s:
            status, seconds = stop_during_outage(how, away_s, args.warmup_s, args.steps)
            print(
                f"server {how} {away_s:.0f} s before SIGTERM: exit {status} after {seconds:.1f} s"
            )


if __name__ == "__main__":
    main()
