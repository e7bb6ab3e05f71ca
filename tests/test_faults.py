"""Faults during training: a diverging loss, a full disk. The run fails, the checkpoint stays.

A diverging trial in a sweep fails alone: tests/test_sweep.py, test_a_failing_trial_….
"""

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from dqnlab.checkpointing.files import load_checkpoint, non_finite_entry, save_checkpoint
from dqnlab.training.run import run

TRAIN_PY = Path(__file__).resolve().parents[1] / "src" / "train.py"

# A checkpoint at step 100, the first update at step 100, evaluations at 200 and 400.
TINY_RUN = [
    "trainer.total_steps=400",
    "trainer.eval_every=200",
    "trainer.eval_episodes=2",
    "trainer.checkpoint_every=100",
    "agent.learning_starts=100",
    "agent.batch_size=32",
    "agent.train_freq=4",
    "agent.gradient_steps=1",
    "network.hidden_sizes=[32,32]",
    "trainer.torch_threads=1",
    "tracking.log_model=false",
]
# lr=1e30 without gradient clipping: the first update leaves finite but huge weights, the
# next ones overflow them to inf and NaN (seeded, so at the same step every time on a CPU).
DIVERGING = ["agent.lr=1e30", "agent.max_grad_norm=null"]


def only_run(client: MlflowClient) -> Run:
    (found,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return found


def assert_intact(checkpoint: Path, step: int) -> None:
    """The checkpoint written at `step` is in place, loads, and holds finite weights only."""
    state = load_checkpoint(checkpoint)
    assert state["step"] == step
    assert non_finite_entry(state) is None
    assert not checkpoint.with_name(f".{checkpoint.name}.tmp").exists()


def test_a_non_finite_state_is_refused_and_the_previous_checkpoint_kept(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"q_net": net.state_dict(), "optimizer": optimizer.state_dict()}, path)
    good = path.read_bytes()

    optimizer.state[net.weight]["exp_avg_sq"][0, 1] = math.inf
    diverged = {"q_net": net.state_dict(), "optimizer": optimizer.state_dict(), "best": -math.inf}
    with pytest.raises(FloatingPointError, match=r"optimizer\.state\.0\.exp_avg_sq holds NaN"):
        save_checkpoint(diverged, path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


@pytest.mark.parametrize(
    ("log_every", "reason"),
    [
        # The loss of the window ending at step 200 is NaN: the loop stops before checkpointing.
        (100, "FloatingPointError: training loss became nan by env step 200"),
        # No loss check before step 400: the checkpoint at step 200 is the first to see NaN.
        (400, "FloatingPointError: checkpoint .* not written: q_net.layers.0.weight holds NaN"),
    ],
    ids=["loss-check-first", "checkpoint-first"],
)
def test_a_diverging_run_fails_with_its_reason_and_keeps_the_last_finite_checkpoint(
    compose_config, tracking_uri: str, log_every: int, reason: str
) -> None:
    cfg = compose_config(*TINY_RUN, *DIVERGING, f"trainer.log_every={log_every}")
    with pytest.raises(FloatingPointError):
        run(cfg)
    found = only_run(MlflowClient())
    assert found.info.status == "FAILED"
    assert re.search(reason, found.data.tags["error"])
    assert_intact(Path("checkpoints") / found.info.run_id / "checkpoint.pt", step=100)


def private_tmpfs_available() -> bool:
    """Whether this user may mount a tmpfs in a private user and mount namespace."""
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--user", "--map-root-user", "--mount", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def train(workdir: Path, overrides: list[str], wrapper: list[str]) -> subprocess.CompletedProcess:
    """Run `src/train.py` in `workdir` (under `wrapper`), tracked in `workdir/mlflow.db`."""
    workdir.mkdir(exist_ok=True)
    return subprocess.run(
        [*wrapper, sys.executable, str(TRAIN_PY), *overrides],
        cwd=workdir,
        env=os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"},
        capture_output=True,
        text=True,
        timeout=180,
    )


def train_on_small_disk(workdir: Path, size: int, overrides: list[str], failed_write: str) -> Run:
    """Train with `workdir/disk` a tmpfs of `size` bytes; check that the run failed cleanly.

    The tmpfs lives in a private mount namespace, so it needs no privileges and vanishes
    with the process: its final content is copied to `workdir/disk-after` first. The
    tracking database is not on it. Returns the failed MLflow run.
    """
    (workdir / "disk").mkdir(parents=True)
    script = (
        f"mount -t tmpfs -o size={size} dqnlab-small-disk disk || exit 99; "
        '"$@"; status=$?; cp -a disk disk-after; exit $status'
    )
    namespace = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh"]
    done = train(workdir, overrides, namespace)
    output = done.stdout + done.stderr
    assert done.returncode not in (0, 99), output[-3000:]
    assert any(re.search(failed_write, line) for line in output.splitlines()), output[-3000:]
    found = only_run(MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}"))
    assert found.info.status == "FAILED"
    assert re.search(f"OSError: .*{failed_write}", found.data.tags["error"])
    return found


small_disk = pytest.mark.skipif(
    not private_tmpfs_available(), reason="needs unshare and unprivileged user namespaces"
)
FULL_DISK_RUN = [*TINY_RUN, "trainer.log_every=100"]


@small_disk
def test_a_disk_full_at_the_second_checkpoint_fails_the_run_and_keeps_the_first(
    tmp_path: Path,
) -> None:
    # Room for the first checkpoint, not for its successor beside it (written, then renamed).
    measured = train(tmp_path / "measure", [*FULL_DISK_RUN, "trainer.total_steps=100"], [])
    assert measured.returncode == 0, measured.stderr[-3000:]
    (first,) = (tmp_path / "measure" / "checkpoints").glob("*/checkpoint.pt")
    room = first.stat().st_size * 3 // 2
    workdir = tmp_path / "run"
    found = train_on_small_disk(
        workdir,
        room,
        [*FULL_DISK_RUN, "trainer.checkpoint_dir=disk"],
        r"checkpoint \S+ not written \(No space left on device\)",
    )
    assert_intact(workdir / "disk-after" / found.info.run_id / "checkpoint.pt", step=100)


@small_disk
def test_a_full_artifact_store_fails_the_run_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "mlruns").symlink_to("disk")  # a new experiment's artifacts go to ./mlruns
    # Room for config.yaml (logged at the start), not for the figures of the first evaluation
    # (plots_every_s=0: drawn after every evaluation).
    overrides = [*FULL_DISK_RUN, "tracking.plots_every_s=0"]
    found = train_on_small_disk(tmp_path, 16 * 1024, overrides, r"No space left on device")
    assert_intact(tmp_path / "checkpoints" / found.info.run_id / "checkpoint.pt", step=100)
