"""Signals schedulers send, turned into exceptions that let runs close cleanly."""

import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

EXIT_RESUMABLE = 75  # EX_TEMPFAIL: stopped by SIGTERM after a checkpoint; resume the run

_requested: list[int] = []  # signals received while deferred, oldest first


class StopRequested(KeyboardInterrupt):
    """A deferred Ctrl-C or SIGTERM, raised at a safe point."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_resumable_on_sigterm(task: Callable[[], T]) -> T:
    """Run `task`; a SIGTERM that stopped it (after its checkpoint) exits with EXIT_RESUMABLE."""
    try:
        return task()
    except StopRequested as stop:
        if stop.signum != signal.SIGTERM:
            raise
        print(
            f"stopped by SIGTERM after a checkpoint: run the same command again with "
            f"trainer.resume=auto (or the run id) to continue (exit {EXIT_RESUMABLE})",
            file=sys.stderr,
        )
        sys.exit(EXIT_RESUMABLE)


def stop_pending() -> bool:
    """Whether a deferred stop signal waits to be raised."""
    return bool(_requested)


def raise_if_stop_requested() -> None:
    """Raise StopRequested if a deferred stop signal arrived; call it where stopping is safe.

    The training loop calls it every step, a sweep before every trial: the interrupt then
    never lands inside a database write (a half-done SQLite write keeps its lock and blocks
    every other worker) and the run still ends KILLED with its trial FAIL.
    """
    if _requested:
        signum = _requested[0]
        _requested.clear()
        raise StopRequested(signum)


class defer_stop_signals:
    """While active, the given signals (SIGTERM from schedulers, Ctrl-C) only request a stop."""

    def __init__(self, *signums: signal.Signals) -> None:
        self.signums = signums

    def __enter__(self) -> None:
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.signums:
                self._previous[signum] = signal.signal(signum, self._request_stop)

    @staticmethod
    def _request_stop(signum: int, frame: object) -> None:
        _requested.append(signum)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class workers_handle_ctrl_c:
    """In a launcher process: let the first Ctrl-C reach the workers alone.

    The workers (same process group) close their trials and runs and return; stopping the
    launcher at once would kill them mid-cleanup. `interrupted` tells the launcher to exit
    with an error afterwards. A second Ctrl-C stops the launcher immediately.
    """

    def __enter__(self) -> "workers_handle_ctrl_c":
        self.interrupted = False
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def _on_sigint(self, signum: int, frame: object) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        print("Ctrl-C: workers are closing their trials (Ctrl-C again to stop now)", flush=True)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)
