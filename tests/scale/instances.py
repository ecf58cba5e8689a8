"""Several `modelproxy serve` instances on loopback ports, sharing one PostgreSQL schema and
one redis-server of their own: what a deployment behind a load balancer is. Reusable: a
test seeds `fleet.app` (an Appliance: providers, endpoints, tokens), then `start()`s; extra
`env` runs each instance differently (e.g. {"MODELPROXY_WORKERS": "2"}).

Each instance has its own data directory holding a copy of the one secret key (as each
machine would, from the admin's backup), so each can read the provider keys.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from threading import Barrier
from typing import Any

import pytest
import requests

from tests.conftest import POSTGRES_UP, PostgresSchema
from tests.fakes.redis_server import REDIS_SERVER, RedisServer
from tests.live import LiveServer
from tests.server.client_fixtures import Appliance, IssuedToken, clean_environ

HTTP_TIMEOUT = 30


class Fleet:
    """`count` instances over one database (`app`) and one Redis (`redis`)."""

    def __init__(self, workdir: Path, database_url: str, redis: RedisServer, count: int = 3,
                 env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.app = Appliance(workdir / "seed", database_url)
        self.redis = redis
        self.count = count
        self.env = env or {}
        self.instances: list[LiveServer] = []

    def start(self) -> Fleet:
        for i in range(self.count):
            data_dir = self.workdir / f"instance{i}"
            data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.app.settings.key_file, data_dir / self.app.settings.key_file.name)
            live = LiveServer(data_dir, self.app.database_url)
            live.env = {**clean_environ(), "MODELPROXY_BCRYPT_ROUNDS": "4",
                        "MODELPROXY_DATABASE_URL": self.app.database_url or "",
                        "MODELPROXY_REDIS_URL": self.redis.url, **self.env}
            self.instances.append(live.start())
        return self

    def url(self, i: int) -> str:
        return self.instances[i % len(self.instances)].url

    def kill(self, i: int) -> None:
        """`kill -9` of instance `i`: nothing it held is given back by it."""
        self.instances[i].stop(signal.SIGKILL)

    def revive(self, i: int) -> None:
        self.instances[i].start()

    def post(self, i: int, token: IssuedToken, path: str = "/api/chat",
             body: Any = None) -> requests.Response:
        return requests.post(self.url(i) + path, headers=token.headers, timeout=HTTP_TIMEOUT,
                             json=body or {"messages": [{"role": "user", "content": "hi"}]})

    def burst(self, token: IssuedToken, count: int, path: str = "/api/chat", body: Any = None,
              on: Sequence[int] | None = None) -> list[requests.Response]:
        """`count` requests at once (all started together), spread over the instances
        `on` (default: all) in turn."""
        spread = list(on) if on is not None else list(range(len(self.instances)))
        start = Barrier(count)

        def one(n: int) -> requests.Response:
            start.wait(timeout=30)
            return self.post(spread[n % len(spread)], token, path, body)

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))

    def stop(self) -> None:
        for live in self.instances:
            if live.process is not None and live.process.poll() is None:
                live.stop()
        self.app.close()


@contextmanager
def fleet_of(workdir: Path, count: int = 3, env: dict[str, str] | None = None
             ) -> Iterator[Fleet]:
    """A fleet (not started) on a fresh PostgreSQL schema and a redis-server of its own;
    skipped where either is missing."""
    if not POSTGRES_UP:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    with PostgresSchema() as schema, RedisServer(workdir / "redis") as redis:
        fleet = Fleet(workdir, schema.url, redis, count, env)
        try:
            yield fleet
        finally:
            fleet.stop()


def statuses(responses: Sequence[requests.Response]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in responses:
        counts[r.status_code] = counts.get(r.status_code, 0) + 1
    return counts
