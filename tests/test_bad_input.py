"""Bad input from the command line: one clear line, non-zero exit, nothing written."""

import subprocess
import sys
from pathlib import Path

import pytest

TRAIN = Path(__file__).resolve().parents[1] / "src" / "train.py"

CASES = [
    ("env=nosuch", "env=nosuch is not an option of 'env'", "cartpole, lunarlander"),
    ("agent.learning_rte=1", "agent.learning_rte is not a key of 'agent'", "lr"),
    ("env.id=NoSuchEnv-v0", "env.id='NoSuchEnv-v0' is not a registered", "CartPole-v1"),
    ("env.id=Pendulum-v1", "env.id='Pendulum-v1' has a Box action space", "Discrete"),
    ("env.id=ALE/Pong-v5", "network=mlp needs a flat vector observation", "(210, 160, 3)"),
    ("buffer.capacity=16", "buffer.capacity=16 is smaller than agent.batch_size", "at least"),
    ("agent.lr=-0.001", "agent.lr=-0.001 is not allowed", "> 0"),
    ("trainer.total_steps=0", "trainer.total_steps=0 is not allowed", "> 0"),
    ("device=tpu", "device='tpu' is not allowed", "'auto', 'cpu', 'cuda'"),
]


@pytest.mark.parametrize(("override", "problem", "allowed"), CASES)
def test_bad_input_fails_fast_with_one_line(
    tmp_path: Path, override: str, problem: str, allowed: str
) -> None:
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    done = subprocess.run(
        [sys.executable, str(TRAIN), override],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore", "HOME": str(home)},
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: "), done.stderr
    assert problem in lines[0] and allowed in lines[0]
    assert list(workdir.iterdir()) == []  # no mlflow.db, no mlruns/, no checkpoint
