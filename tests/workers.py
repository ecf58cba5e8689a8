"""Helpers over `modelproxy serve --workers N` (a LiveServer started with workers=N): its
worker processes, which one answered, waiting for replacements.

Start one with `LiveServer(data_dir, env={"MODELPROXY_REDIS_URL": redis_server.url},
workers=2).start()` or `Appliance.serve(workers=2, MODELPROXY_REDIS_URL=...)`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import requests

from tests.live import LiveServer

HEADER = "X-ModelProxy-Worker"


def worker_pids(live: LiveServer) -> set[int]:
    """The supervisor's child processes now (Linux /proc)."""
    assert live.process is not None
    pid = live.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


def answered_by(response: requests.Response) -> tuple[int, int]:
    """(worker number, pid) from the X-ModelProxy-Worker header (`2; pid=4242`)."""
    match = re.fullmatch(r"(\d+); pid=(\d+)", response.headers[HEADER])
    assert match, response.headers.get(HEADER)
    return int(match.group(1)), int(match.group(2))


def seen_workers(live: LiveServer, want: int, tries: int = 200) -> set[int]:
    """The pids that answered /api/health on new connections, until `want` distinct ones
    answered or after `tries` requests."""
    pids: set[int] = set()
    for _ in range(tries):
        response = requests.get(live.url + "/api/health", timeout=5)
        assert response.status_code == 200, response.text
        pids.add(answered_by(response)[1])
        if len(pids) >= want:
            break
    return pids


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not (ok := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return ok


def wait_for_line(live: LiveServer, pattern: str, timeout: float = 20.0) -> re.Match[str]:
    """The first line of the server's output matching `pattern`, waiting (bounded)."""
    found: list[re.Match[str]] = []

    def probe() -> bool:
        found[:] = [m for m in re.finditer(pattern, live.output)][:1]
        return bool(found)

    assert wait_until(probe, timeout), f"no line matching {pattern!r} in:\n{live.output}"
    return found[0]


def wait_for_workers(live: LiveServer, count: int, other_than: set[int] = frozenset(),
                     timeout: float = 30.0) -> set[int]:
    """Until `count` workers, none of `other_than`, have said they are ready."""
    def ready() -> set[int]:
        pids = worker_pids(live) - set(other_than)
        return {pid for pid in pids if f"(pid {pid}) ready" in live.output}

    assert wait_until(lambda: len(ready()) >= count and len(worker_pids(live)) == count,
                      timeout), live.output
    return ready()


def gevent_loaded(pid: int) -> bool:
    """Whether process `pid` has gevent's compiled modules mapped (it imported gevent)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return f"{os.sep}gevent{os.sep}" in maps
