"""Shared fixtures. Storage fixtures run every test twice: on a fresh SQLite file and on a
fresh schema of the PostgreSQL server at 127.0.0.1:5432 (skipped only when none answers)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import peewee as pw
import pytest

from app.db import open_database
from app.services.audit import Actor
from app.settings import Settings, load_settings

PG_URL = os.environ.get("MODELPROXY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass their own settings: no MODELPROXY_* or provider key from the outside."""
    for name in list(os.environ):
        if name.startswith("MODELPROXY_") or name in {"OPENAI_API_KEY", "OPENROUTER_API_KEY",
                                                      "ANTHROPIC_API_KEY"}:
            monkeypatch.delenv(name)


def _postgres_answers() -> bool:
    db = pw.PostgresqlDatabase("test", user="postgres", host="127.0.0.1", port=5432,
                               connect_timeout=3)
    try:
        db.connect()
        db.close()
        return True
    except pw.OperationalError:
        return False


POSTGRES_UP = _postgres_answers()


class PostgresSchema:
    """A schema of its own on the test server, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"mpx_test_{os.getpid()}_{secrets.token_hex(4)}"
        self._admin = pw.PostgresqlDatabase("test", user="postgres", host="127.0.0.1", port=5432)

    @property
    def url(self) -> str:
        return f"{PG_URL}?options=-csearch_path%3D{self.name}"

    def __enter__(self) -> PostgresSchema:
        with self._admin.connection_context():
            self._admin.execute_sql(f'CREATE SCHEMA "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        with self._admin.connection_context():
            self._admin.execute_sql(f'DROP SCHEMA "{self.name}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'modelproxy.db'}"
        return
    if not POSTGRES_UP:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    with PostgresSchema() as schema:
        yield schema.url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a test appliance: its own data directory and database, cheap bcrypt."""
    return load_settings(
        {"data_dir": str(tmp_path / "data"), "database_url": database_url, "bcrypt_rounds": 4},
        environ={}, env_file=None,
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[pw.Database]:
    """The migrated database, bound to the models, with a connection open."""
    database = open_database(settings)
    with database.connection_context():
        yield database
    database.close_all()


@pytest.fixture
def actor() -> Actor:
    return Actor("tester", "127.0.0.1")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[object]:
    """A redis-server of this test's own (tests/fakes/redis_server.py), skipped where the
    binary is missing."""
    from tests.fakes.redis_server import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    with RedisServer(tmp_path / "redis") as server:
        yield server
