"""The GPU check: one command that checks and measures the CUDA path, part by part.

    python bench/gpu_check.py --out DIR                        # on one GPU: about 7 minutes
    python bench/gpu_check.py --out DIR --device cpu --tiny    # seconds (tests/test_gpu_check.py)

1. correctness: the CUDA tests (`pytest -m cuda`), `src/train.py` on CartPole (must reach
   475), `src/evaluate.py` on its model, a 2-worker `sweep=cartpole` sharing the device;
2. learner: microseconds per DQN update (256x256 MLP at batch 64 and 128, Nature CNN at 32
   and 256) for each `agent.update_mode`, in fp32, TF32 and bf16 autocast; eager CPU beside;
3. throughput: env steps/s with learning on, this device against the CPU, for CartPole and
   LunarLander at the shipped (zoo-based) settings and for Pong through ale-py's vector env at
   1, 8 and 32 envs, with GPU utilisation and peak GPU memory; host memory of a 1M-transition
   Atari replay buffer;
4. pong: learning on Pong for the minutes left: eval returns and env steps reached.

Each part has a time cap; DIR/gpu_check.json and DIR/gpu_check.md are rewritten after every
measurement, so a run cut short still leaves everything measured so far. Runs, stores and
logs go to --work (a temporary folder unless given), not to DIR.
"""

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from common import run_ours, store_uri
from mlflow.tracking import MlflowClient

from dqnlab.agent.learner import DQNLearner
from dqnlab.agent.networks import MLPQNetwork, NatureCNN
from dqnlab.device import cpu_model
from dqnlab.replay.frames import FrameStorage
from dqnlab.replay.storage import ReplaySample

ROOT = Path(__file__).resolve().parents[1]
PART_CAPS_S = {"correctness": 200, "learner": 80, "throughput": 110}  # pong: what is left
PRECISIONS = ("fp32", "tf32", "bf16")


class Report:
    """Everything measured so far, as JSON and as a Markdown summary, rewritten on each add."""

    def __init__(self, out: Path, meta: dict[str, Any]) -> None:
        self.out = out
        self.data: dict[str, Any] = {"meta": meta, "parts": {}}
        out.mkdir(parents=True, exist_ok=True)
        self.write()

    def add(self, part: str, name: str, value: dict[str, Any]) -> None:
        self.data["parts"].setdefault(part, {})[name] = value
        print(f"[{part}] {name}: {json.dumps(value)}", flush=True)
        self.write()

    def write(self) -> None:
        self._replace("gpu_check.json", json.dumps(self.data, indent=2) + "\n")
        self._replace("gpu_check.md", self.markdown())

    def markdown(self) -> str:
        meta = self.data["meta"]
        lines = ["# GPU check", "", *(f"- {k}: {v}" for k, v in meta.items())]
        for part, results in self.data["parts"].items():
            lines += ["", f"## {part}", "", "| measurement | result |", "|---|---|"]
            for name, value in results.items():
                shown = ", ".join(f"{k}={_short(v)}" for k, v in value.items())
                lines.append(f"| {name} | {shown} |")
        return "\n".join(lines) + "\n"

    def _replace(self, name: str, text: str) -> None:
        """Write via a temporary file, so a kill mid-write leaves the previous version."""
        tmp = self.out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(self.out / name)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Check:
    """Settings every part reads: device, size, folders and the run's deadline."""

    def __init__(self, args: argparse.Namespace, report: Report) -> None:
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.tiny = args.tiny
        self.work = args.work
        self.report = report
        self.deadline = time.monotonic() + args.budget_s
        self.tracking = f"tracking.uri={store_uri(self.work)}"

    def part_end(self, part: str) -> float:
        """When `part` must stop: its cap from now, and never past the deadline."""
        return min(self.deadline, time.monotonic() + PART_CAPS_S.get(part, 1e9))

    def python(self, *args: str, timeout: float, name: str) -> subprocess.CompletedProcess:
        """One of our commands, run from the work folder, its output kept in `name`.log."""
        log = self.work / f"{name}.log"
        with log.open("w") as out:
            return subprocess.run(
                [sys.executable, *args],
                cwd=self.work,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=max(timeout, 1),
                check=False,
            )


def sized(check: Check, full: Any, tiny: Any) -> Any:
    return tiny if check.tiny else full


# ---------------------------------------------------------------- 1. correctness


def part_correctness(check: Check) -> None:
    end = check.part_end("correctness")
    steps = [cuda_tests, train_to_solved, evaluate_model, shared_sweep]
    state: dict[str, Any] = {}
    for step in steps:
        if time.monotonic() >= end:
            check.report.add("correctness", step.__name__, {"skipped": "part's time cap"})
            continue
        try:
            check.report.add("correctness", step.__name__, step(check, end, state))
        except Exception as exc:  # one broken step must not stop the others
            check.report.add("correctness", step.__name__, {"error": repr(exc)[:300]})


def cuda_tests(check: Check, end: float, state: dict) -> dict[str, Any]:
    files = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").glob("test_*.py")
        if "pytest.mark.cuda" in p.read_text()
    )
    args = ["-m", "pytest", "-m", "cuda", "-q", "-n0", "-p", "no:cacheprovider", *files]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=max(end - time.monotonic(), 1),
        check=False,
    )
    (check.work / "cuda_tests.log").write_text(done.stdout + done.stderr)
    found = re.findall(r"(\d+) (passed|failed|skipped|error)", done.stdout)
    counts = {kind: int(n) for n, kind in found}
    return {"rc": done.returncode, **counts, "seconds": round(time.monotonic() - started, 1)}


def train_to_solved(check: Check, end: float, state: dict) -> dict[str, Any]:
    overrides = sized(
        check,
        [],
        [
            "trainer.total_steps=600",
            "trainer.eval_every=300",
            "trainer.eval_episodes=2",
            "agent.learning_starts=100",
        ],
    )
    started = time.monotonic()
    done = check.python(
        str(ROOT / "src/train.py"),
        "env=cartpole",
        "seed=0",
        f"device={check.device}",
        "tracking.experiment=gpu-check",
        check.tracking,
        *overrides,
        timeout=end - time.monotonic(),
        name="train_cartpole",
    )
    client = MlflowClient(store_uri(check.work))
    experiment = client.get_experiment_by_name("gpu-check")
    (found,) = client.search_runs([experiment.experiment_id], max_results=1)
    evals = client.get_metric_history(found.info.run_id, "eval/return_mean")
    best = max(m.value for m in evals)
    state["run_id"] = found.info.run_id
    target = 0.0 if check.tiny else 475.0
    return {
        "rc": done.returncode,
        "status": found.info.status,
        "device": found.data.tags.get("device.name"),
        "best_eval": best,
        "first_step_at_475": next((m.step for m in evals if m.value >= 475), None),
        "passed": done.returncode == 0 and best >= target,
        "seconds": round(time.monotonic() - started, 1),
    }


def evaluate_model(check: Check, end: float, state: dict) -> dict[str, Any]:
    summary = check.work / "evaluation.json"
    done = check.python(
        str(ROOT / "src/evaluate.py"),
        f"model={state['run_id']}",
        f"device={check.device}",
        f"episodes={sized(check, 10, 2)}",
        f"output={summary}",
        check.tracking,
        timeout=end - time.monotonic(),
        name="evaluate",
    )
    result = json.loads(summary.read_text()) if summary.exists() else {}
    return {"rc": done.returncode, "return_mean": result.get("return_mean")}


def shared_sweep(check: Check, end: float, state: dict) -> dict[str, Any]:
    storage = f"sqlite:///{check.work / 'optuna.db'}"
    done = check.python(
        str(ROOT / "src/sweep.py"),
        "-m",
        "sweep=cartpole",
        "sweep.n_trials=2",
        "sweep.workers=2",
        "sweep.study_name=gpu-check",
        f"sweep.storage={storage}",
        f"trainer.total_steps={sized(check, 3000, 400)}",
        f"trainer.eval_every={sized(check, 1000, 200)}",
        "trainer.eval_episodes=2",
        "trainer.test_episodes=5",
        f"device={check.device}",
        check.tracking,
        timeout=end - time.monotonic(),
        name="sweep",
    )
    study = optuna.load_study(study_name="gpu-check", storage=storage)
    states = [t.state.name for t in study.trials]
    client = MlflowClient(store_uri(check.work))
    runs = client.search_runs([client.get_experiment_by_name("dqn-cartpole").experiment_id])
    trials = [r for r in runs if "mlflow.parentRunId" in r.data.tags]  # nested under the study
    return {
        "rc": done.returncode,
        "trials": states,
        "trial_devices": sorted({r.data.tags.get("device.name", "?") for r in trials}),
        "passed": done.returncode == 0 and states.count("COMPLETE") == 2,
    }


# ---------------------------------------------------------------- 2. learner


def update_batch(obs_shape: tuple[int, ...], batch: int, device: torch.device) -> ReplaySample:
    """A random batch as the replay buffer hands it out (uint8 frames for the CNN)."""
    g = torch.Generator().manual_seed(0)
    if len(obs_shape) == 3:
        obs = torch.randint(0, 255, (2, batch, *obs_shape), generator=g, dtype=torch.uint8)
    else:
        obs = torch.randn(2, batch, *obs_shape, generator=g)
    return ReplaySample(
        obs[0].to(device),
        torch.randint(0, 4, (batch,), generator=g).to(device),
        torch.randn(batch, generator=g).to(device),
        obs[1].to(device),
        (torch.rand(batch, generator=g) < 0.05).float().to(device),
        torch.full((batch,), 0.99, device=device),
    )


@contextlib.contextmanager
def precision(name: str, device: torch.device) -> Iterator[None]:
    """fp32 (TF32 off), tf32 (TF32 matmuls and convolutions), bf16 (autocast)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    tf32 = name == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        if name == "bf16":  # no cast cache: a captured graph must not keep stale casts
            with torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def update_us(
    net: str, batch: int, mode: str, dtype: str, device: torch.device, tiny: bool
) -> float:
    """Median microseconds of one update (blocks of updates timed between syncs)."""
    torch.manual_seed(0)
    if net == "mlp":
        obs_shape, q_net = (8,), MLPQNetwork((8,), 4, hidden_sizes=(256, 256))
    else:
        obs_shape, q_net = (4, 84, 84), NatureCNN((4, 84, 84), 4)
    adam = partial(torch.optim.Adam, lr=1e-4, fused=True)
    learner = DQNLearner(q_net.to(device), adam, double=True, update_mode=mode)
    sample = update_batch(obs_shape, batch, device)
    per_block, blocks, warmup = (2, 2, 4) if tiny else (25, 7, 10)
    times = []
    with precision(dtype, device):
        for _ in range(warmup):
            learner.update(sample)
        for _ in range(blocks):
            _sync(device)
            start = time.perf_counter()
            for _ in range(per_block):
                learner.update(sample)
            _sync(device)
            times.append((time.perf_counter() - start) / per_block)
    return 1e6 * statistics.median(times)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def part_learner(check: Check) -> None:
    end = check.part_end("learner")
    shapes = [("mlp", 64), ("mlp", 128), ("cnn", 32), ("cnn", 256)]
    if check.tiny:
        shapes = [("mlp", 64), ("cnn", 32)]
    cpu = torch.device("cpu")
    cases = (
        [] if not check.cuda else [(n, b, "eager", "fp32", cpu) for n, b in shapes if n == "mlp"]
    )
    dtypes = PRECISIONS if check.cuda else ("fp32",)
    # Most wanted first: a run cut short by the cap still has the fp32 comparison. Compiling
    # takes tens of seconds a case, so it comes last (and not at tiny sizes).
    cases += [
        (n, b, m, d, check.device) for d in dtypes for m in ("eager", "graph") for n, b in shapes
    ]
    if not check.tiny:
        cases += [(n, b, "compile", "fp32", check.device) for n, b in shapes]
    cpu_us: dict[tuple[str, int], float] = {}
    for net, batch, mode, dtype, device in cases:
        name = f"{net} b{batch} {mode} {dtype} {device.type}"
        if time.monotonic() >= end:
            check.report.add("learner", name, {"skipped": "part's time cap"})
            continue
        try:
            us = update_us(net, batch, mode, dtype, device, check.tiny)
        except Exception as exc:
            check.report.add("learner", name, {"error": repr(exc)[:300]})
            continue
        result: dict[str, Any] = {"us_per_update": round(us, 1)}
        if device.type == "cpu" and mode == "eager":
            cpu_us.setdefault((net, batch), us)
        if (net, batch) in cpu_us:
            result["speedup_vs_eager_cpu"] = round(cpu_us[(net, batch)] / us, 2)
        check.report.add("learner", name, result)


# ---------------------------------------------------------------- 3. throughput


class GpuSampler:
    """GPU utilisation (%) read from nvidia-smi twice a second while a run trains."""

    def __init__(self, active: bool) -> None:
        self.active = active and _has_nvidia_smi()
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "GpuSampler":
        if self.active:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.active:
            self._thread.join()

    def _poll(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
        while not self._stop.wait(0.5):
            out = subprocess.run(query, capture_output=True, text=True, check=False).stdout
            with contextlib.suppress(ValueError, IndexError):
                self.samples.append(float(out.split()[0]))

    def mean(self) -> float | None:
        return round(statistics.mean(self.samples), 1) if self.samples else None


def _has_nvidia_smi() -> bool:
    with contextlib.suppress(OSError):
        return (
            subprocess.run(["nvidia-smi", "-L"], capture_output=True, check=False).returncode == 0
        )
    return False


def throughput(check: Check, overrides: list[str], device: torch.device) -> dict[str, Any]:
    """Env steps/s of one training run with learning on, with GPU utilisation and memory."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with GpuSampler(device.type == "cuda") as gpu:
        result = run_ours(
            [*overrides, f"device={device}", "tracking.experiment=gpu-check-throughput"],
            check.work,
        )
    out: dict[str, Any] = {
        "steps": result.steps,
        "steps_per_s": round(result.steps / result.seconds, 1),
    }
    if device.type == "cuda":
        out["gpu_util_pct"] = gpu.mean()
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def throughput_cases(check: Check) -> list[tuple[str, list[str], torch.device]]:
    """(name, overrides, device): CartPole, then Pong (the targets), then LunarLander."""
    steps = sized(check, 6000, 300)
    fastest = ["agent.update_mode=graph", "buffer.storage=device"]
    vector: dict[str, list] = {}
    for env in ("cartpole", "lunarlander")[: sized(check, 2, 1)]:
        base = [
            f"env={env}",
            f"trainer.total_steps={steps}",
            f"trainer.eval_every={steps}",
            "trainer.eval_episodes=1",
            f"agent.learning_starts={sized(check, 1000, 100)}",
        ]
        vector[env] = [(f"{env} cpu", base, torch.device("cpu"))]
        if check.cuda:
            vector[env].append((f"{env} {check.device}", base, check.device))
            vector[env].append(
                (f"{env} {check.device} graph+device replay", base + fastest, check.device)
            )
    pong = []
    frames = sized(check, 4000, 400)  # short evaluation games: an untrained agent's are long
    for envs in sized(check, (8, 32, 1), (1, 2)):
        pong_steps = sized(check, 4000 * max(1, envs // 4), 200)
        overrides = [
            "env=pong",
            f"trainer.num_envs={envs}",
            f"trainer.total_steps={pong_steps}",
            f"trainer.eval_every={pong_steps}",
            "trainer.eval_episodes=1",
            f"env.kwargs.max_episode_frames={frames}",
            f"agent.learning_starts={sized(check, 2000, 100)}",
            f"buffer.capacity={sized(check, 100_000, 2000)}",
            "trainer.checkpoint_buffer=false",
        ]
        pong.append((f"pong {envs} envs {check.device}", overrides, check.device))
    return vector["cartpole"] + pong + vector.get("lunarlander", [])


def part_throughput(check: Check) -> None:
    end = check.part_end("throughput")
    cpu_rate: dict[str, float] = {}
    for name, overrides, device in throughput_cases(check):
        if time.monotonic() >= end:
            check.report.add("throughput", name, {"skipped": "part's time cap"})
            continue
        try:
            result = throughput(check, overrides, device)
        except Exception as exc:
            check.report.add("throughput", name, {"error": repr(exc)[:300]})
            continue
        env = name.split()[0]
        if device.type == "cpu":
            cpu_rate[env] = result["steps_per_s"]
        elif env in cpu_rate:
            result["ratio_vs_cpu"] = round(result["steps_per_s"] / cpu_rate[env], 2)
        check.report.add("throughput", name, result)
    capacity = sized(check, 1_000_000, 10_000)
    storage = FrameStorage(capacity, (4, 84, 84), np.uint8, "cpu", num_envs=8, n_step=3)
    arrays = [v for v in vars(storage).values() if isinstance(v, np.ndarray)]
    check.report.add(
        "throughput",
        f"atari replay host memory, {capacity} transitions",
        {"gib": round(sum(a.nbytes for a in arrays) / 2**30, 2)},
    )


# ---------------------------------------------------------------- 4. pong


def part_pong(check: Check) -> None:
    """Pong at its shipped settings until the deadline: the learning curve's start."""
    left = check.deadline - time.monotonic()
    if left < 20:
        check.report.add("pong", "learning", {"skipped": f"{left:.0f} s left"})
        return
    overrides = sized(
        check,
        ["trainer.eval_every=50000", "trainer.eval_episodes=3", "trainer.checkpoint_buffer=false"],
        [
            "trainer.total_steps=300",
            "trainer.eval_every=300",
            "trainer.eval_episodes=1",
            "agent.learning_starts=100",
            "buffer.capacity=2000",
            "env.kwargs.max_episode_frames=2000",
        ],
    )
    args = [
        str(ROOT / "src/train.py"),
        "env=pong",
        f"device={check.device}",
        "tracking.experiment=gpu-check-pong",
        check.tracking,
        *overrides,
    ]
    with (check.work / "pong.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=check.work, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            proc.wait(timeout=max(left - 15, 1))  # time to stop cleanly
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the run checkpoints and stops
            proc.wait(timeout=60)
    client = MlflowClient(store_uri(check.work))
    experiment = client.get_experiment_by_name("gpu-check-pong")
    if experiment is None:  # stopped before its run began (a slow start)
        check.report.add("pong", "learning", {"rc": proc.returncode, "error": "no run started"})
        return
    (found,) = client.search_runs([experiment.experiment_id], max_results=1)
    run_id = found.info.run_id
    evals = client.get_metric_history(run_id, "eval/return_mean")
    episodes = client.get_metric_history(run_id, "train/episode_return")
    last_step = max(
        (m.step for key in found.data.metrics for m in client.get_metric_history(run_id, key)),
        default=0,
    )
    check.report.add(
        "pong",
        "learning",
        {
            "rc": proc.returncode,
            "status": found.info.status,
            "env_steps": last_step,
            "evals": [(m.step, m.value) for m in evals],
            "last_10_episode_returns_mean": (
                round(statistics.mean(m.value for m in episodes[-10:]), 2) if episodes else None
            ),
        },
    )


PARTS: dict[str, Callable[[Check], None]] = {
    "correctness": part_correctness,
    "learner": part_learner,
    "throughput": part_throughput,
    "pong": part_pong,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSON and summary")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:<index> or cpu")
    parser.add_argument("--tiny", action="store_true", help="seconds-long sizes (for the tests)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="the whole check's cap")
    parser.add_argument("--work", type=Path, help="folder for runs and logs (default: a temp one)")
    parser.add_argument("--parts", nargs="*", choices=list(PARTS), default=list(PARTS))
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible (use --device cpu --tiny)")
    with contextlib.ExitStack() as stack:
        if args.work is None:
            args.work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        args.work.mkdir(parents=True, exist_ok=True)
        args.out, args.work = args.out.resolve(), args.work.resolve()
        meta = {
            "device": torch.cuda.get_device_name(args.device) if args.device != "cpu" else "cpu",
            "cpu": f"{cpu_model()}, {os.cpu_count()} CPUs",
            "torch": torch.__version__,
            "tiny": args.tiny,
            "command": " ".join(["python", *sys.argv]),
        }
        # MLflow keeps a store's artifact root as the folder it was first opened from.
        stack.enter_context(contextlib.chdir(args.work))
        report = Report(args.out, meta)
        check = Check(args, report)
        for name in args.parts:
            started = time.monotonic()
            PARTS[name](check)
            report.add("timing", name, {"seconds": round(time.monotonic() - started, 1)})


if __name__ == "__main__":
    main()
