"""Several `modelproxy serve` instances on one PostgreSQL schema and one Redis, as behind a
load balancer (docs/scale.md): each with a data directory of its own holding a copy of one
secret key file, all seeded once with the admins and the offline `echo` provider of
tests/server/admin_fixtures.py."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from app.services import admins
from tests.conftest import POSTGRES_UP, PostgresSchema
from tests.live import LiveServer
from tests.server.admin_fixtures import ADMIN_PASSWORD, ADMIN_USER, AdminClient
from tests.server.client_fixtures import ACTOR, Appliance, clean_environ

DEADLINE_S = 10.0  # a bound for a broken test, never a timing assertion
HTTP_TIMEOUT = 15


class Cluster:
    def __init__(self, root: Path, database_url: str, redis_url: str | None) -> None:
        self.root, self.database_url, self.redis_url = root, database_url, redis_url
        self.seed = Appliance(root / "seed", database_url)
        with self.seed.session():
            admins.create(ACTOR, ADMIN_USER, ADMIN_PASSWORD, "admin", rounds=4)
        self.echo_id = self.seed.provider("echo", type="echo")
        self.instances: list[LiveServer] = []

    def start(self, count: int, module: str = "app.main", **env: str) -> list[LiveServer]:
        """`count` more instances, started side by side."""
        started = [self._instance(len(self.instances) + n, module, env) for n in range(count)]
        errors: list[BaseException] = []

        def start(live: LiveServer) -> None:
            try:
                live.start(timeout=60)
            except RuntimeError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(live,)) for live in started]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.instances += started
        if errors:
            raise errors[0]
        return started

    def _instance(self, n: int, module: str, env: dict[str, str]) -> LiveServer:
        data_dir = self.root / f"instance-{n}"
        data_dir.mkdir(parents=True)
        key_file = self.seed.settings.key_file  # the same secret key everywhere
        shutil.copy2(key_file, data_dir / key_file.name)
        live = LiveServer(data_dir, self.database_url, module=module)
        live.env = {**clean_environ(), "MODELPROXY_BCRYPT_ROUNDS": "4", **env,
                    "MODELPROXY_DATABASE_URL": self.database_url}
        if self.redis_url:
            live.env["MODELPROXY_REDIS_URL"] = self.redis_url
        return live

    def admin(self, live: LiveServer) -> AdminClient:
        return AdminClient(live.url).login(ADMIN_USER, ADMIN_PASSWORD)

    def stop(self) -> None:
        for live in self.instances:
            if live.process is not None:
                live.stop()


@contextmanager
def cluster_on(workdir: Path, redis_url: str) -> Iterator[Cluster]:
    """A cluster on a fresh PostgreSQL schema (skipped where none answers), stopped after."""
    if not POSTGRES_UP:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    with PostgresSchema() as schema:
        cluster = Cluster(workdir, schema.url, redis_url)
        try:
            yield cluster
        finally:
            cluster.stop()


def chat(url: str, path: str, token: str) -> requests.Response:
    return requests.post(url + path, timeout=HTTP_TIMEOUT,
                         json={"messages": [{"role": "user", "content": "hi"}]},
                         headers={"Authorization": f"Bearer {token}"})


def until(check: Callable[[], bool], deadline_s: float = DEADLINE_S) -> float | None:
    """Seconds until `check()` held (tried every 10 ms), None if it never did in time."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.01)
    return None
