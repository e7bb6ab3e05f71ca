"""Rank an experiment's MLflow runs by a metric: the table `src/compare.py` prints."""

from collections.abc import Sequence
from dataclasses import dataclass

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from dqnlab.errors import ConfigError
from dqnlab.tracking.store import require_existing_store

RUN_ID_CHARS = 8  # enough to tell runs apart by eye; the MLflow UI shows the full id


@dataclass(frozen=True)
class Table:
    """A header and rows of cells, already formatted as text."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


def find_runs(
    experiment: str,
    metric: str,
    ascending: bool = False,
    limit: int | None = None,
    filter_string: str | None = None,
    tracking_uri: str | None = None,
) -> list[Run]:
    """The experiment's runs, best first by the latest value of `metric`.

    MLflow's search orders them (runs without the metric come last) and applies `limit`
    and `filter_string` (its search syntax). An unknown experiment is a ConfigError that
    lists the experiments the store does hold.
    """
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    uri = mlflow.get_tracking_uri()
    require_existing_store(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        names = ", ".join(sorted(e.name for e in mlflow.search_experiments()))
        raise ConfigError(f"experiment={experiment!r} is not in {uri}: use one of [{names}]")
    try:
        return mlflow.search_runs(
            experiment_names=[experiment],
            filter_string=filter_string or "",
            max_results=limit,  # None: every run (MLflow pages through them)
            order_by=[f"metrics.`{metric}` {'ASC' if ascending else 'DESC'}"],
            output_format="list",
        )
    except MlflowException as exc:
        if exc.error_code != "INVALID_PARAMETER_VALUE":  # not the user's input: a real failure
            raise
        reason = " ".join(exc.message.split())
        raise ConfigError(
            f"MLflow cannot search with filter={filter_string!r}, metric={metric!r}: {reason}"
        ) from None


def differing_params(runs: Sequence[Run]) -> list[str]:
    """Names of the params with at least two values among the runs that log them.

    A sweep's searched keys show up; a param only some runs log (a sweep's study run
    logs the sweep settings) does not, unless those runs disagree about it.
    """
    values: dict[str, set[str]] = {}
    for run in runs:
        for name, value in run.data.params.items():
            values.setdefault(name, set()).add(value)
    return sorted(name for name, seen in values.items() if len(seen) > 1)


def ranking_table(runs: Sequence[Run], metric: str, params: Sequence[str]) -> Table:
    """One row per run, in the given order: rank, name, status, short id, metric, params."""
    header = ("#", "run", "status", "run id", metric, *params)
    rows = [
        (
            str(rank),
            run.info.run_name or "",
            run.info.status,
            run.info.run_id[:RUN_ID_CHARS],
            _number(run.data.metrics.get(metric)),
            *(run.data.params.get(name, "-") for name in params),
        )
        for rank, run in enumerate(runs, start=1)
    ]
    return Table(header, rows)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def render(table: Table) -> str:
    """Columns padded to their widest cell, a rule under the header."""
    lines = [table.header, *table.rows]
    widths = [max(len(line[col]) for line in lines) for col in range(len(table.header))]

    def join(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    rule = ["-" * width for width in widths]
    return "\n".join([join(table.header), join(rule), *(join(row) for row in table.rows)])
