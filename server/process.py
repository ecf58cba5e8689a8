"""Which process of `serve` this is: the one process (one worker), or worker N of a
supervisor (server/supervisor.py). Standard library only: the supervisor, which is never
monkey-patched, reads it as well as the gevent workers.

The supervisor tells a worker what it is through the environment of the same executable
it starts (`modelproxy serve`): the listening socket's inherited descriptor, a pipe to say
"ready" on, and the worker's number (1..N, kept by its replacements).
"""

from __future__ import annotations

import os

LISTEN_FD_ENV = "MODELPROXY_LISTEN_FD"  # the supervisor's listening socket, inherited
READY_FD_ENV = "MODELPROXY_READY_FD"  # a pipe: one byte once serving, then closed
WORKER_ENV = "MODELPROXY_WORKER"  # this worker's number, 1..N
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode
WORKER_HEADER = "X-ModelProxy-Worker"


def is_worker() -> bool:
    """Whether a supervisor started this process (it then serves an inherited socket)."""
    return LISTEN_FD_ENV in os.environ


def listen_fd() -> int | None:
    """The inherited listening socket's descriptor, or None for the one process."""
    raw = os.environ.get(LISTEN_FD_ENV)
    return int(raw) if raw else None


def worker_number() -> int:
    """1..N under a supervisor; 1 for the one process."""
    return int(os.environ.get(WORKER_ENV) or 1)


def worker_label() -> str:
    """What the X-ModelProxy-Worker header says: `2; pid=4242`."""
    return f"{worker_number()}; pid={os.getpid()}"


def say_ready() -> None:
    """Tell the supervisor this worker accepts connections (nothing for the one process)."""
    raw = os.environ.pop(READY_FD_ENV, None)
    if raw:
        fd = int(raw)
        try:
            os.write(fd, b"r")
        finally:
            os.close(fd)
