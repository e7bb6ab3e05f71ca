"""Bad input from the command line: one clear line, non-zero exit, nothing written."""

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

TRAIN_CASES = [
    ("env=nosuch", "env=nosuch is not an option of 'env'", "cartpole, lunarlander"),
    ("agent.learning_rte=1", "agent.learning_rte is not a key of 'agent'", "lr"),
    ("env.idd=CartPole-v1", "env.idd is not a key of 'env'", "id, kwargs, name"),
    ("agent.lr=abc", "agent.lr='abc' is not allowed", "expected a number"),
    ("trainer.total_steps=1.5", "trainer.total_steps=1.5 is not allowed", "expected an integer"),
    ("agent.double_q=maybe", "agent.double_q='maybe' is not allowed", "expected true or false"),
    ("tracking.experiment=[1,2]", "tracking.experiment=[1, 2] is not allowed", "a string"),
    ("agent.gamma=1.5", "agent.gamma=1.5 is not allowed", "(0, 1]"),
    ("exploration.start=2", "exploration.start=2.0 is not allowed", "probability in [0, 1]"),
    ("env.id=NoSuchEnv-v0", "env.id='NoSuchEnv-v0' is not a registered", "CartPole-v1"),
    ("env.id=Pendulum-v1", "env.id='Pendulum-v1' has a Box action space", "Discrete"),
    ("env.id=ALE/Pong-v5", "network=mlp needs a flat vector observation", "(210, 160, 3)"),
    ("buffer.capacity=16", "buffer.capacity=16 is smaller than agent.batch_size", "at least"),
    ("agent.lr=-0.001", "agent.lr=-0.001 is not allowed", "> 0"),
    ("trainer.total_steps=0", "trainer.total_steps=0 is not allowed", "> 0"),
    ("trainer.test_episodes=-1", "trainer.test_episodes=-1 is not allowed", ">= 0"),
    ("device=tpu", "device='tpu' is not allowed", "'auto', 'cpu', 'cuda'"),
    ("seed=-1", "seed=-1 is not allowed", "an integer in [0, 4294967295]"),
    ("network.hidden_sizes=[0]", "network.hidden_sizes=[0] is not allowed", "> 0"),
    ("trainer.torch_threads=0", "trainer.torch_threads=0 is not allowed", "> 0 or null"),
    (
        "agent.optimizer._target_=torch.optim.Nope",
        "agent.optimizer._target_='torch.optim.Nope' cannot be imported",
        "Nope",
    ),
    ("agent.update_mode=fast", "agent.update_mode='fast' is not allowed", "'eager', 'graph'"),
    (
        "agent.update_mode=graph agent.optimizer._target_=torch.optim.SGD",
        "agent.update_mode=graph needs an optimizer that takes capturable",
        "'torch.optim.SGD' does not",
    ),
]

# Run with -m: the sweep must fail before any worker, study or MLflow run exists.
SWEEP_CASES = [
    (
        "sweep=nosuch",
        "sweep=nosuch is not an option of 'sweep'",
        "cartpole, cartpole_defaults, extensions, lunarlander, lunarlander_defaults",
    ),
    ("sampler=nosuch", "sampler=nosuch is not an option of 'sampler'", "random, tpe"),
    ("pruner=nosuch", "pruner=nosuch is not an option of 'pruner'", "hyperband, median"),
    (
        "+sweep.space.agent.lrr={type:float,low:0.1,high:0.2}",
        "sweep.space.agent.lrr: agent.lrr is not a key of the training config",
        "lr",
    ),
    ("sweep.space.agent.lr.low=0.1", "sweep.space.agent.lr: empty or inverted range", "high="),
    ("sweep.space.agent.lr.type=normal", "type='normal' is not allowed", "categorical"),
    (
        "sweep.space.buffer.capacity.choices=[16,50000]",
        "sweep.space.buffer.capacity=16 gives a bad training config",
        "agent.batch_size",
    ),
    (
        "sweep.storage=postgresql://dqn:secret@127.0.0.1:9/optuna",
        "sweep.storage=postgresql://dqn:***@127.0.0.1:9/optuna cannot be opened",
        "refused",
    ),
    ("sweep.storage=optuna.db", "sweep.storage='optuna.db' is not a database URL", "sqlite:///"),
    ("sweep.n_trials=0", "sweep.n_trials=0 is not allowed", ">= 1"),
    ("sweep.objective=best", "sweep.objective='best' is not allowed", "'test', 'last_k', 'auc'"),
    (
        "trainer.test_episodes=0",
        "trainer.test_episodes=0 is not allowed with sweep.objective=test",
        "sweep.objective=last_k",
    ),
    (
        "pruner=successive_halving sweep.pruner.reduction_factor=1",
        "sweep.pruner (optuna.pruners.SuccessiveHalvingPruner) cannot be built",
        "reduction_factor >= 2",
    ),
    ("sweep.workers=two", "sweep.workers='two' is not allowed", "expected an integer"),
    ("agent.lr=abc", "agent.lr='abc' is not allowed", "expected a number"),
    ("agent.lr=0.001", "agent.lr is both set on the command line and searched", "drop one"),
    ("hydra/launcher=nosuch", "hydra/launcher=nosuch is not an option", "submitit_slurm, ray"),
    (
        "hydra/launcher=ray hydra.launcher.address=127.0.0.1:9",
        "hydra.launcher.address=127.0.0.1:9 does not answer",
        "ray start --head",
    ),
]

# Model references and evaluation settings: refused before any MLflow store is opened.
FORMS = "runs:/<run id>/best_model"  # the model reference forms, listed after each problem
EVALUATE_CASES = [
    ("episodes=3", "model= is required", FORMS),
    ("model=runs:/bad", "model='runs:/bad' is not of the form runs:/<run id>/", FORMS),
    ("model=nosuch/model.pt", "model='nosuch/model.pt' is no file, run id or MLflow URI", FORMS),
    ("model=nosuch/model.pt episodes=ten", "episodes='ten' is not allowed", "an integer"),
    ("model=nosuch/model.pt epsilon=1.5", "epsilon=1.5 is not allowed", "probability in [0, 1]"),
]

DOWN = "tracking.uri=http://dqn:***@127.0.0.1:9 does not answer"

COMPARE_CASES = [
    ("limit=abc", "limit='abc' is not allowed", "an integer or null"),
    ("experiment=nosuch", "no MLflow store at sqlite:///", "tracking.uri"),
]

CASES = [
    *(("train.py", *case) for case in TRAIN_CASES),
    *(("sweep.py", f"-m sweep=cartpole {args}", *rest) for args, *rest in SWEEP_CASES),
    *(("evaluate.py", *case) for case in EVALUATE_CASES),
    *(("compare.py", *case) for case in COMPARE_CASES),
    (
        "evaluate.py",
        "model=runs:/0123456789abcdef0123456789abcdef/best_model",
        "no MLflow store at sqlite:///",
        "tracking.uri",
    ),
    (
        "train.py",
        "trainer.resume=0123456789abcdef",
        "no MLflow store at sqlite:///",
        "tracking.uri",
    ),
    # A tracking server that does not answer (nothing listens on port 9): refused in seconds.
    *(
        (script, f"{args} tracking.uri=http://dqn:secret@127.0.0.1:9", DOWN, "mlflow server")
        for script, args in [
            ("train.py", "seed=1"),
            ("sweep.py", "-m sweep=cartpole"),
            ("evaluate.py", "model=runs:/0123456789abcdef0123456789abcdef/best_model"),
            ("compare.py", "experiment=dqn-cartpole"),
        ]
    ),
]


@pytest.mark.parametrize(("script", "args", "problem", "allowed"), CASES)
def test_bad_input_fails_fast_with_one_line(
    tmp_path: Path, script: str, args: str, problem: str, allowed: str
) -> None:
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    done = subprocess.run(
        [sys.executable, str(SRC / script), *args.split(" ")],
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
    assert list(workdir.iterdir()) == []  # no mlflow.db, mlruns/, optuna.db or checkpoint


# Run an entry script as `python <script> <args>` would, then list what it had loaded.
LOADED_AFTER_EXIT = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as stop:
    print(stop.code, file=sys.stderr)
print(*sorted(name for name in ("torch", "mlflow", "optuna") if name in sys.modules))
"""


@pytest.mark.parametrize(
    ("script", "args", "loaded"),
    [
        ("train.py", "env=nosuch", ""),
        ("train.py", "agent.gamma=1.5", ""),  # a value check, not only composition
        ("sweep.py", "-m sweep=cartpole sampler=nosuch", ""),
        # The space is read as Optuna distributions (a fraction of a second to load).
        ("sweep.py", "-m sweep=cartpole sweep.space.agent.lr.low=0.1", "optuna"),
        ("sweep.py", "-m sweep=cartpole sweep.space.buffer.capacity.choices=[16]", "optuna"),
        ("sweep.py", "-m sweep=cartpole sweep.storage=optuna.db", "optuna"),
        ("sweep.py", "-m sweep=cartpole sweep.storage=postgresql://127.0.0.1:9/x", "optuna"),
        ("sweep.py", "-m sweep=cartpole sweep.pruner.n_startup_trials=-1", "optuna"),
        ("evaluate.py", "episodes=ten", ""),
        ("evaluate.py", "model=nosuch/model.pt epsilon=1.5", ""),
        ("compare.py", "limit=abc", ""),
    ],
)
def test_bad_input_is_refused_before_torch_mlflow_or_optuna_load(
    tmp_path: Path, script: str, args: str, loaded: str
) -> None:
    """Torch and MLflow take seconds to import: a typo should not wait for them."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER_EXIT, str(SRC / script), *args.split(" ")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stderr.startswith("error: "), done.stderr
    assert done.stdout.strip() == loaded
