"""Open the database (SQLite in WAL mode, or PostgreSQL), migrate it, bind the models.

Connections come from a pool and are per thread — per greenlet under `serve`, where
gevent patches threading before peewee is imported — so greenlets never share one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee as pw
from playhouse.db_url import parseresult_to_dict
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

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


def connect(url: str) -> pw.Database:
    """A pooled database for `url` (sqlite:///PATH or postgresql://...), not yet opened."""
    parsed = urlparse(url)
    path = sqlite_path(url)
    if path is not None:
        # Pooled connections move between threads; each is used by one thread at a time.
        return PooledSqliteDatabase(
            path or ":memory:", pragmas=SQLITE_PRAGMAS, max_connections=64, stale_timeout=300,
            check_same_thread=False,
        )
    if parsed.scheme in {"postgresql", "postgres"}:
        params = parseresult_to_dict(parsed, unquote_password=True, unquote_user=True)
        return PooledPostgresqlDatabase(max_connections=32, stale_timeout=300, **params)
    raise StorageError(f"unsupported database URL scheme {parsed.scheme!r}")


def open_database(settings: Settings, migrate: bool = True) -> pw.Database:
    """Connect to the configured database, bring its schema up to date, bind the models.

    Raises StorageError with a readable reason when the database cannot be used.
    """
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        create_private(sqlite_path(settings.database) or "")
    db = connect(settings.database)
    # Bound before migrating: a step that seals data opens the secret box, which reads the
    # key check through the models (in the step's own transaction).
    database_proxy.initialize(db)
    try:
        with db.connection_context():
            if migrate:
                migrations.migrate(db, open_box=lambda: _load_box(settings))
            elif migrations.current_version(db) < migrations.LATEST:
                raise StorageError("the database schema is out of date; run `modelproxy serve`")
    except pw.OperationalError as exc:
        raise StorageError(f"cannot open the database {redact(settings.database)}: {exc}") from exc
    return db


def _load_box(settings: Settings) -> SecretBox:
    # Imported here: the services sit above storage, and only this one step needs them.
    from app.services import secret_key

    return secret_key.load_box(settings)


def ping(db: pw.Database) -> bool:
    """True when the database answers a trivial query."""
    try:
        with db.connection_context():
            db.execute_sql("SELECT 1")
        return True
    except pw.PeeweeException:
        return False


def redact(url: str) -> str:
    """The URL with any password replaced, fit for messages and logs."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url
