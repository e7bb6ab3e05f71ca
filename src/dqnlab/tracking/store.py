"""Local SQLite MLflow stores: created all at once, and never created by a mere lookup.

MLflow builds a new SQLite store by running its schema migrations one by one, which takes
seconds; a process killed in between leaves a half-migrated file that no later command can
open. Here the store is built in a private file and linked into place only when complete.
"""

import contextlib
import os
import uuid
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dqnlab.errors import ConfigError


def ensure_tracking_store() -> None:
    """Build the current tracking URI's store if it is a SQLite file that does not exist yet."""
    path = _sqlite_file(mlflow.get_tracking_uri())
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".{path.name}.{uuid.uuid4().hex}.building")
    try:
        MlflowClient(f"sqlite:///{building}").search_experiments(max_results=1)
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(building, path)  # atomic, and never replaces an existing store
    finally:
        building.unlink(missing_ok=True)


def require_existing_store(uri: str) -> None:
    """Refuse a missing SQLite store before a lookup: opening one would create `mlflow.db`."""
    if local_store_missing(uri):
        raise ConfigError(
            f"no MLflow store at {uri}: run from the folder you trained in, "
            "or set tracking.uri (or MLFLOW_TRACKING_URI)"
        )


def local_store_missing(uri: str) -> bool:
    """Whether `uri` is a SQLite store file that does not exist."""
    path = _sqlite_file(uri)
    return path is not None and not path.is_file()


def _sqlite_file(uri: str) -> Path | None:
    try:
        url = make_url(uri)
    except ArgumentError:
        return None  # a server, a folder store, a databricks URI …
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()
