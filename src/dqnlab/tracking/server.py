"""A tracking server (`tracking.uri=http://…`): it must answer before anything starts, and
no request to it may hold training for long.

Loads no MLflow (the entry scripts check the server before loading it), only the stdlib.
"""

import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from dqnlab.errors import ConfigError

CHECK_TIMEOUT_S = 5  # the preflight's wait for an answer (twice: one retry)
# Each request during a run: MLflow's own defaults (120 s timeout, 7 retries with backoff)
# let one unreachable server hold a run for minutes, and a deferred Ctrl-C behind it.
REQUEST_TIMEOUT_S = 10
REQUEST_RETRIES = 1
# While a server is known to be away: one short try, so a probe holds training briefly.
PROBE_TIMEOUT_S = 2
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)


def is_server(uri: str | None) -> bool:
    """Whether `uri` names a tracking server (rather than a local store)."""
    return urllib.parse.urlsplit(uri or "").scheme in ("http", "https")


def effective_uri(uri: str | None) -> str | None:
    """`tracking.uri`, else MLFLOW_TRACKING_URI (what MLflow itself would use)."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or None


def without_passwords(text: str) -> str:
    """`text` with the password of every URL in it (a database, a tracking server) as ***."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def bound_server_requests() -> None:
    """Cap how long one MLflow request may take (unless the user set MLflow's variables)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(REQUEST_TIMEOUT_S))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(REQUEST_RETRIES))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


@contextmanager
def probing_requests() -> Iterator[None]:
    """MLflow requests made inside try once, for at most PROBE_TIMEOUT_S."""
    names = ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(zip(names, (str(PROBE_TIMEOUT_S), "0"), strict=True))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_server(uri: str | None) -> None:
    """A tracking server named by `tracking.uri` (or MLFLOW_TRACKING_URI) answers its health
    check within seconds; local stores are left alone. Raises ConfigError naming the URL."""
    uri = effective_uri(uri)
    if not is_server(uri):
        return
    bound_server_requests()
    parts = urllib.parse.urlsplit(uri)
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    health = urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", "")
    )
    reason = ""
    for _ in range(2):
        try:
            with urllib.request.urlopen(health, timeout=CHECK_TIMEOUT_S) as answer:
                if answer.status == 200:
                    return
                reason = f"HTTP {answer.status}"
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = str(getattr(exc, "reason", exc))
    raise ConfigError(
        f"tracking.uri={without_passwords(uri)} does not answer ({reason}): start "
        "`mlflow server` there, or check the host, the port and any firewall between"
    )
