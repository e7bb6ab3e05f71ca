"""Real servers on loopback for the scale-out tests: PostgreSQL, an S3 stand-in (moto) and
`mlflow server`, each started by the test session and stopped after it."""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 120  # an mlflow server with one worker is ready in about 8 s here


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answers(url: str, process: subprocess.Popen, log: Path) -> None:
    """Poll `url` until it answers 200; fail with the server's log if it exits or never does."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    process.kill()
    pytest.fail(f"{url} did not answer in {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster on loopback (user `dqn`, no password)."""

    port: int

    def url(self, database: str) -> str:
        return f"postgresql://dqn@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _postgres_bin_dir() -> Path | None:
    found = shutil.which("initdb")
    candidates = [found] if found else sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """initdb, start on a free loopback port, and remove it all afterwards."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are not installed (.ci/run installs them)")
    root = Path(tempfile.mkdtemp(prefix="dqnlab-pg-"))
    # The server refuses to run as root: run it as the postgres user then.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()

    def pg(program: str, *args: str) -> None:
        command = [*as_user, str(bin_dir / program), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    try:
        pg("initdb", "-D", str(data), "-U", "dqn", "--auth=trust")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        pg("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        yield Postgres(port)
    finally:
        if (data / "postmaster.pid").exists():
            pg("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def s3_stand_in() -> Iterator[str]:
    """moto's S3 server on loopback with one bucket, `dqnlab`; yields its endpoint URL."""
    import boto3

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="dqnlab-s3-")) / "moto.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{endpoint}/moto-api/", process, log)
        boto3.client("s3", endpoint_url=endpoint, **S3_KEYS).create_bucket(Bucket="dqnlab")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)


S3_KEYS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}


@dataclass
class MlflowServer:
    """`mlflow server` on loopback; `stop()` and `start()` again keep its stores and port."""

    backend: str
    artifacts: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    log: Path = field(default_factory=lambda: Path(tempfile.mkdtemp()) / "mlflow-server.log")
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            self.backend,
            "--artifacts-destination",
            self.artifacts,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        env = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"} | self.env
        env.pop("MLFLOW_TRACKING_URI", None)
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        wait_until_answers(f"{self.url}/health", self.process, self.log)

    def stop(self) -> None:
        """Stop the server and every process it started (its web workers)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)
        self.process = None


@contextmanager
def mlflow_server(backend: str, artifacts: str, env: dict[str, str] | None = None):
    server = MlflowServer(backend, artifacts, env or {})
    server.start()
    try:
        yield server
    finally:
        server.stop()


SLURM_CONF = """\
ClusterName=dqnlab-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/ctld
SlurmdSpoolDir={root}/d
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


@contextmanager
def slurm_cluster() -> Iterator[dict[str, str]]:
    """A one-node SLURM cluster (Debian's slurm-wlm) on loopback, its state in a temp dir;
    yields the environment its clients (sbatch, squeue) need: SLURM_CONF."""
    daemons = [shutil.which(name) for name in ("slurmctld", "slurmd", "munged")]
    if not all(daemons) or os.geteuid() != 0:
        pytest.skip("a one-node SLURM cluster needs slurm-wlm and munge, and root (.ci/run)")
    root = Path(tempfile.mkdtemp(prefix="dqnlab-slurm-"))
    (root / "ctld").mkdir()
    (root / "d").mkdir()
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            host=socket.gethostname(),
            ctld_port=free_port(),
            d_port=free_port(),
            root=root,
            cpus=os.cpu_count(),
        )
    )
    env = os.environ | {"SLURM_CONF": str(conf)}
    _start_munge()
    try:
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([daemon, "-f", str(conf)], env=env, check=True, timeout=60)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while _node_state(env) != "idle":
            if time.monotonic() > deadline:
                pytest.fail(f"the SLURM node never became idle:\n{_tail(root / 'slurmctld.log')}")
            time.sleep(0.3)
        yield {"SLURM_CONF": str(conf)}
    finally:
        subprocess.run(["scancel", "--full", "--user=root"], env=env, capture_output=True)
        deadline = time.monotonic() + 60  # jobs end (and their slurmstepd) while slurmd runs
        while _queue(env) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid_file in ("slurmd.pid", "slurmctld.pid"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((root / pid_file).read_text()), signal.SIGTERM)
        shutil.rmtree(root, ignore_errors=True)


def _start_munge() -> None:
    """munged, which SLURM authenticates with, unless it runs already."""
    if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode == 0:
        return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    if not Path("/etc/munge/munge.key").is_file():
        subprocess.run(["runuser", "-u", "munge", "--", "mungekey"], check=True)
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True, timeout=60)


def _node_state(env: dict[str, str]) -> str:
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
    return done.stdout.strip()


def _queue(env: dict[str, str]) -> str:
    done = subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True)
    return done.stdout.strip()


def _tail(path: Path) -> str:
    return path.read_text()[-3000:] if path.exists() else f"(no {path})"


@contextmanager
def ray_head(gpus: int = 2, cpus: int = 2, env: dict[str, str] | None = None) -> Iterator[str]:
    """A local Ray cluster with `gpus` logical GPUs (Ray only sets each task's
    CUDA_VISIBLE_DEVICES: CPU training works), its processes given `env`; yields its
    head's address."""
    ray = BIN / "ray"
    if not ray.exists():
        pytest.skip("Ray is not installed (pip install -e '.[ray]')")
    # A short folder: Ray's socket paths under it must fit in 107 characters.
    root = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    env = os.environ | (env or {}) | {"RAY_TMPDIR": root}
    port = free_port()
    start = [str(ray), "start", "--head", f"--port={port}", f"--num-gpus={gpus}"]
    options = [f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats"]
    started = subprocess.run(
        [*start, *options], env=env, capture_output=True, text=True, timeout=300
    )
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
