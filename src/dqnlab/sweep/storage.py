"""The Optuna storage a sweep's workers share: SQLite by default, PostgreSQL to scale out."""

import sqlite3
import warnings
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from dqnlab.errors import ConfigError

SQLITE_BUSY_TIMEOUT_S = 60  # concurrent workers wait for SQLite's write lock this long
CONNECT_TIMEOUT_S = 10  # an unreachable server fails fast


def storage_url(url: str) -> URL:
    """Parse `sweep.storage`; plain `postgresql://` uses psycopg 3, the driver we install."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"sweep.storage={url!r} is not a database URL: use sqlite:///<file> or "
            "postgresql://<user>@<host>/<db>"
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redacted(url: str) -> str:
    """The URL without its password, for logs, params and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def check_reachable(url: str) -> None:
    """Connect to a database server once, creating nothing; SQLite files are left alone
    (opening one creates it)."""
    parsed = storage_url(url)
    if parsed.get_backend_name() == "sqlite":
        return
    try:
        engine = create_engine(parsed, **_engine_kwargs(parsed))
        engine.connect().close()
        engine.dispose()
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise _cannot_open(url, exc) from None


def open_storage(
    url: str,
    heartbeat_interval: int,
    grace_period: int,
    on_stale_trial: Callable[[optuna.Study, FrozenTrial], None],
) -> optuna.storages.RDBStorage:
    """Connect (creating Optuna's tables when new), with heartbeats.

    A worker that dies stops beating; after `grace_period` seconds its RUNNING trial is
    failed, and `on_stale_trial` called, by the next worker that starts a trial.
    """
    parsed = storage_url(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # since 2.8
        try:
            storage = optuna.storages.RDBStorage(
                parsed.render_as_string(hide_password=False),
                engine_kwargs=_engine_kwargs(parsed),
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=on_stale_trial,
            )
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise _cannot_open(url, exc) from None
    if parsed.get_backend_name() == "sqlite":
        _take_write_lock_first(storage.engine)
    return storage


def _engine_kwargs(parsed: URL) -> dict:
    if parsed.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}


def _cannot_open(url: str, exc: Exception) -> ConfigError:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return ConfigError(f"sweep.storage={redacted(url)} cannot be opened: {reason}")


def _take_write_lock_first(engine: Engine) -> None:
    """Start every SQLite transaction with BEGIN IMMEDIATE, as PostgreSQL's row locks would.

    SQLite ignores SELECT ... FOR UPDATE, and Python's sqlite3 begins a transaction only
    at the first write, so two workers could both read one WAITING trial (the enqueued
    baseline, a retried trial) as free and both run it. Taking the write lock when the
    transaction begins makes that read-then-claim atomic. Connections opened before the
    listeners are dropped, so every later one is set up this way.
    """

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()
