"""Signals schedulers send, turned into exceptions that let runs close cleanly."""

import signal
import threading


class stop_on_sigterm:
    """Turn SIGTERM (what schedulers send) into KeyboardInterrupt so the run ends KILLED."""

    def __enter__(self) -> None:
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, signal.default_int_handler)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


class workers_handle_ctrl_c:
    """In a launcher process: let the first Ctrl-C reach the workers alone.

    The workers (same process group) close their trials and runs and then fail, which ends
    the launch with an error; stopping the launcher at once would kill them mid-cleanup.
    A second Ctrl-C stops the launcher immediately.
    """

    def __enter__(self) -> None:
        self._interrupted = False
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: object) -> None:
        if self._interrupted:
            raise KeyboardInterrupt
        self._interrupted = True
        print("Ctrl-C: workers are closing their trials (Ctrl-C again to stop now)", flush=True)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)
