"""src/compare.py: an experiment's runs ranked by a metric, with the params that differ."""

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.entities import Run

from dqnlab.errors import ConfigError
from dqnlab.tracking.compare import differing_params, find_runs, ranking_table, render

COMPARE_PY = Path(__file__).resolve().parents[1] / "src" / "compare.py"
METRIC = "eval/return_mean"


@dataclass(frozen=True)
class Store:
    folder: Path
    uri: str
    ids: dict[str, str]  # run ids by run name


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Runs a (100), b (250.5) and c (no eval yet) in `dqn-test`, made once for the module.

    They share `seed` and differ in `agent.lr`; only c logs `sweep.n_trials` (as a sweep's
    study run does), and the metric's history ends on the value that counts.
    """
    folder = tmp_path_factory.mktemp("compare")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("dqn-other")  # a second experiment, for the error's list
    mlflow.set_experiment("dqn-test")
    ids = {}
    for name, lr, final in (("a", "0.001", 100.0), ("b", "0.0003", 250.5), ("c", "0.01", None)):
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_params({"agent.lr": lr, "seed": "0"})
            if final is None:
                mlflow.log_param("sweep.n_trials", "16")
            else:
                mlflow.log_metric(METRIC, final + 500, step=1)  # earlier, better: not latest
                mlflow.log_metric(METRIC, final, step=2)
        ids[name] = run.info.run_id
    yield Store(folder, uri, ids)
    mlflow.set_tracking_uri(None)


def ranked(store: Store, **kwargs: Any) -> list[Run]:
    """`dqn-test`'s runs as `find_runs` ranks them by METRIC."""
    return find_runs("dqn-test", METRIC, tracking_uri=store.uri, **kwargs)


def names(runs: list[Run]) -> list[str]:
    return [run.info.run_name for run in runs]


def test_runs_are_ranked_best_first_with_the_missing_metric_last(store):
    assert names(ranked(store)) == ["b", "a", "c"]
    assert names(ranked(store, ascending=True)) == ["a", "b", "c"]
    assert names(ranked(store, limit=2)) == ["b", "a"]
    assert names(ranked(store, filter_string="params.agent.lr = '0.01'")) == ["c"]


def test_table_has_rank_name_status_short_id_metric_and_differing_params(store):
    runs = ranked(store)
    assert differing_params(runs) == ["agent.lr"]  # not seed (same), not sweep.n_trials (one run)

    table = ranking_table(runs, METRIC, differing_params(runs))
    assert table.header == ("#", "run", "status", "run id", METRIC, "agent.lr")
    assert table.rows == [
        ("1", "b", "FINISHED", store.ids["b"][:8], "250.5", "0.0003"),
        ("2", "a", "FINISHED", store.ids["a"][:8], "100", "0.001"),
        ("3", "c", "FINISHED", store.ids["c"][:8], "-", "0.01"),
    ]
    named = ranking_table(runs, METRIC, ["seed", "sweep.n_trials"])
    assert [row[-2:] for row in named.rows] == [("0", "-"), ("0", "-"), ("0", "16")]


def test_render_pads_columns_under_a_rule(store):
    runs = ranked(store, limit=1)
    lines = render(ranking_table(runs, METRIC, ["agent.lr"])).splitlines()
    assert lines[0].split() == ["#", "run", "status", "run", "id", METRIC, "agent.lr"]
    assert lines[1].split() == ["-", "---", "--------", "--------", "-" * len(METRIC), "--------"]
    assert lines[2].index("250.5") == lines[0].index(METRIC)


def test_unknown_experiment_lists_the_existing_ones(store):
    with pytest.raises(ConfigError, match=r"use one of \[Default, dqn-other, dqn-test\]"):
        find_runs("dqn-nosuch", METRIC, tracking_uri=store.uri)


def test_command_line_prints_the_table_or_one_error_line(store):
    def compare(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(COMPARE_PY), *args],
            cwd=store.folder,  # MLflow's default store: mlflow.db in the working directory
            env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = compare("experiment=dqn-test", f"metric={METRIC}", "limit=2")
    assert done.returncode == 0, done.stderr
    assert [line.split()[1] for line in done.stdout.splitlines()[2:]] == ["b", "a"]

    done = compare("experiment=dqn-nosuch")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1
    assert lines == [
        "error: experiment='dqn-nosuch' is not in "
        f"{store.uri}: use one of [Default, dqn-other, dqn-test]"
    ]
