"""The embedded SQLite study storage hands each waiting trial to exactly one worker."""

import multiprocessing
from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution

from dqnlab.sweep.storage import open_storage

WORKERS = 4
SPACE = {"x": FloatDistribution(0.0, 1.0)}
QUEUED_X = 0.5


def _no_retry(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Heartbeats are not exercised here."""


def _open(url: str) -> optuna.storages.RDBStorage:
    return open_storage(url, heartbeat_interval=60, grace_period=120, on_stale_trial=_no_retry)


def _ask_at_once(url: str, start: multiprocessing.Barrier, asked: multiprocessing.Queue) -> None:
    study = optuna.load_study(study_name="race", storage=_open(url))
    start.wait()
    trial = study.ask(SPACE)
    asked.put(trial.params["x"])


def test_a_queued_trial_is_claimed_by_one_worker_only(tmp_path: Path):
    # Without the write lock taken at BEGIN, this race hands the queued trial to two
    # workers in about a third of the rounds.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    context = multiprocessing.get_context("fork")
    for round_ in range(8):
        url = f"sqlite:///{tmp_path / f'round{round_}.db'}"
        study = optuna.create_study(study_name="race", storage=_open(url))
        study.enqueue_trial({"x": QUEUED_X})
        start, asked = context.Barrier(WORKERS), context.Queue()
        workers = [
            context.Process(target=_ask_at_once, args=(url, start, asked)) for _ in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
            assert worker.exitcode == 0
        xs = [asked.get(timeout=5) for _ in range(WORKERS)]
        assert xs.count(QUEUED_X) == 1, f"round {round_}: {xs}"
        trials = optuna.load_study(study_name="race", storage=_open(url)).trials
        assert len(trials) == WORKERS
