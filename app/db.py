"""Open the database (SQLite in WAL mode, or PostgreSQL), migrate it, bind the models.

Connections come from a pool and are per thread — per greenlet under `serve`, where
gevent patches threading before peewee is imported — so greenlets never share one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import operator
import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee as pw
from playhouse.db_url import parseresult_to_dict
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PooledSqliteDatabase

from app import migrations
from app.crypto import SecretBox
from app.errors import StorageError
from app.models import database_proxy
from app.settings import Settings

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers never block the writer
    "foreign_keys": 1,
    "busy_timeout": 5000,  # ms to wait for another process's write lock
    "synchronous": "normal",  # safe with WAL, and much faster than FULL
}

# sqlite3 adapts every parameter that is not an exact int, float or str. For None and bool
# it has no adapter and then asks the value's types, raising and clearing an AttributeError
# (~4,000 instructions a parameter; a request-log row binds four to six). Its own datetime
# adapters are Python functions. These are C callables that bind the same values: None as
# NULL, a bool as its integer, a date or datetime as the same ISO text.
sqlite3.register_adapter(type(None), {}.get)  # {}.get(None) is None
sqlite3.register_adapter(bool, int)
sqlite3.register_adapter(dt.date, operator.methodcaller("isoformat"))
sqlite3.register_adapter(dt.datetime, operator.methodcaller("isoformat", " "))

# Connections one process opens at most. A request holds one only while its query runs
# (~1 ms), never while it waits upstream, so a few dozen serve thousands of clients.
SQLITE_POOL, POSTGRES_POOL = 64, 32
# How long a caller waits for a connection when all are in use, before the pool raises
# MaxConnectionsExceeded: far longer than a burst of quick queries takes to drain (32
# connections at ~1 ms a query serve ~30,000 a second), short enough that a request does
# not hang on a database that has stopped answering. Without it the pool refuses at once.
POOL_WAIT_S = 2.0

# The database is away or busy (unreachable, restarting, locked, its connection broken,
# every pooled connection in use): the same work may succeed a moment later.
DATABASE_AWAY = (pw.OperationalError, pw.InterfaceError, pw.InternalError,
                 MaxConnectionsExceeded)
# Whatever using the database may raise (a full pool's error is a ValueError, not peewee's).
DATABASE_ERRORS = (pw.PeeweeException, MaxConnectionsExceeded)


def sqlite_path(url: str) -> str | None:
    """The file of a sqlite:///PATH URL ("" for an in-memory one); None for other URLs."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        return None
    return unquote(parsed.path)[1:] if parsed.netloc == "" else parsed.netloc + parsed.path


def create_private(path: str | Path) -> None:
    """Make an empty SQLite file readable by its owner only, if there is none: it holds
    password hashes and sealed keys, and SQLite gives its -wal and -shm files its mode."""
    if not path or str(path) == ":memory:":
        return
    with contextlib.suppress(FileExistsError):  # an existing file keeps its mode
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def connect(url: str, max_connections: int | None = None,
            wait_s: float = POOL_WAIT_S) -> pw.Database:
    """A pooled database for `url` (sqlite:///PATH or postgresql://...), not yet opened:
    at most `max_connections` (SQLITE_POOL or POSTGRES_POOL), each asked for waiting up
    to `wait_s` while all are in use."""
    parsed = urlparse(url)
    path = sqlite_path(url)
    if path is not None:
        # Pooled connections move between threads; each is used by one thread at a time.
        return PooledSqliteDatabase(
            path or ":memory:", pragmas=SQLITE_PRAGMAS, max_connections=max_connections or
            SQLITE_POOL, stale_timeout=300, timeout=wait_s, check_same_thread=False,
        )
    if parsed.scheme in {"postgresql", "postgres"}:
        params = parseresult_to_dict(parsed, unquote_password=True, unquote_user=True)
        return PooledPostgresqlDatabase(max_connections=max_connections or POSTGRES_POOL,
                                        stale_timeout=300, timeout=wait_s, **params)
    raise StorageError(f"unsupported database URL scheme {parsed.scheme!r}")


def open_database(settings: Settings, migrate: bool = True) -> pw.Database:
    """Connect to the configured database, bring its schema up to date, bind the models.

    Raises StorageError with a readable reason when the database cannot be used.
    """
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        create_private(sqlite_path(settings.database) or "")
    db = connect(settings.database)
    database_proxy.initialize(db)
    try:
        with db.connection_context():
            _refuse_newer_schema(db)
            if migrate:
                migrations.migrate(db, open_box=lambda check: _open_box(settings, check))
            elif migrations.current_version(db) < migrations.LATEST:
                raise StorageError("the database schema is out of date; run `modelproxy serve`")
    except pw.OperationalError as exc:
        db.close_all()
        raise StorageError(f"cannot open the database {redact(settings.database)}: {exc}") from exc
    except StorageError:
        db.close_all()  # refused: hold no connection (a restore may come next)
        raise
    return db


def _refuse_newer_schema(db: pw.Database) -> None:
    """An older ModelProxy put back over a database a newer one migrated would run on a schema
    it does not know; rolling back is restoring the backup made before the upgrade."""
    version = migrations.current_version(db)
    if version > migrations.LATEST:
        raise StorageError(f"the database was upgraded by a newer ModelProxy (schema {version}; "
                           f"this one knows {migrations.LATEST}): run that version, or restore "
                           "the backup made before the upgrade (docs/install.md, Upgrading)")


def _open_box(settings: Settings, sealed_check: str | None) -> SecretBox:
    # Imported here: the services sit above storage, and only the steps that seal need it.
    from app.services import secret_key

    return secret_key.open_box(settings, sealed_check)


def ping(db: pw.Database) -> bool:
    """True when the database answers a trivial query."""
    try:
        with db.connection_context():
            db.execute_sql("SELECT 1")
        return True
    except DATABASE_ERRORS:
        return False


def redact(url: str) -> str:
    """The URL with any password replaced, fit for messages and logs."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url
