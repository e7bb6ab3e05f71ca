"""Signals schedulers send, turned into exceptions that let runs close cleanly."""

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from dqnlab.errors import ResumableError

T = TypeVar("T")

EXIT_RESUMABLE = 75  # EX_TEMPFAIL: stopped by SIGTERM after a checkpoint; resume the run
# A scheduler's stop, to continue later: SIGTERM (preemption), SIGUSR2 (submitit on SLURM,
# ahead of the job's time limit).
RESUMABLE_SIGNALS = (signal.SIGTERM, signal.SIGUSR2)

_requested: list[int] = []  # signals received while deferred, oldest first
# Launchers whose workers are not this process's children (Ray tasks) pass stops on here.
_stop_forwarders: list[Callable[[int], None]] = []


class StopRequested(KeyboardInterrupt):
    """A deferred Ctrl-C or SIGTERM, raised at a safe point."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_resumable(task: Callable[[], T]) -> T:
    """Run `task`; if SIGTERM or a ResumableError stopped it (after its checkpoint), say how
    to continue and exit with EXIT_RESUMABLE."""
    try:
        return task()
    except StopRequested as stop:
        if stop.signum not in RESUMABLE_SIGNALS:
            raise
        reason = f"stopped by {signal.Signals(stop.signum).name} after a checkpoint"
    except ResumableError as exc:
        reason = f"error: {exc}"
    print(
        f"{reason}: run the same command again with trainer.resume=auto (or the run id) "
        f"to continue (exit {EXIT_RESUMABLE})",
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
    """While active, the given signals (SIGTERM from schedulers, Ctrl-C) only request a stop.

    With `restore=False` they stay deferred after the block: a launched worker whose job is
    done then outlives a late signal (joblib kills every worker when one of them dies).
    """

    def __init__(self, *signums: signal.Signals, restore: bool = True) -> None:
        self.signums = signums
        self.restore = restore

    def handler_before(self, signum: int) -> Any:
        """The handler `signum` had before this block (submitit's, say)."""
        return self._previous.get(signum)

    def __enter__(self) -> None:
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.signums:
                self._previous[signum] = signal.signal(signum, self._request_stop)

    @staticmethod
    def _request_stop(signum: int, frame: object) -> None:
        _requested.append(signum)

    def __exit__(self, *exc: object) -> None:
        if self.restore:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)


class workers_handle_stop_signals:
    """In a launcher process: on Ctrl-C or SIGTERM, let the workers close their trials.

    Ctrl-C in a terminal reaches the whole process group, workers included; SIGTERM (`kill`,
    `docker stop`, a scheduler) may reach the launcher alone, so it is passed on to them.
    The workers close their trials and runs (SIGTERM re-queues a trial, to resume from its
    checkpoint) and return: stopping the launcher at once would leave them training, or
    kill them mid-cleanup. A second signal stops the launcher immediately.
    """

    def __enter__(self) -> "workers_handle_stop_signals":
        self.signum: int | None = None
        self._previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        return self

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        if signum == signal.SIGTERM:
            for worker in multiprocessing.active_children():
                os.kill(worker.pid, signal.SIGTERM)
        for forward in _stop_forwarders:
            forward(signum)
        name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(f"{name}: workers are closing their trials ({name} again to stop now)", flush=True)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def exit_status(self) -> int | None:
        """The launcher's exit status after a stop signal: resumable after SIGTERM."""
        if self.signum is None:
            return None
        return EXIT_RESUMABLE if self.signum == signal.SIGTERM else 130


@contextmanager
def forwarding_stop_signals(forward: Callable[[int], None]) -> Iterator[None]:
    """While active, a stop signal the launching process gets (workers_handle_stop_signals)
    is also passed to `forward(signum)`: a launcher whose workers run elsewhere stops them."""
    _stop_forwarders.append(forward)
    try:
        yield
    finally:
        _stop_forwarders.remove(forward)
