"""Backups of a SQLite appliance, and restoring one into a data directory.

A backup is one file, readable by its owner only (0600): a gzip'd tar archive of
`modelproxy.db` (an online, consistent copy), `secret.key` (the key that opens the sealed
provider keys and header values — without it a restored appliance could open none of
them) and `backup.json` (what made it). When the key is MODELPROXY_SECRET_KEY it is not
put in the archive: keeping it stays the admin's job, and the archive says so.
PostgreSQL is backed up with pg_dump, plus the key.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee as pw

from app import __version__, migrations
from app.crypto import SecretBox, read_key_file, write_key_file
from app.db import create_private, sqlite_path
from app.errors import ConflictError, SecretKeyError, StorageError
from app.models import utcnow
from app.services import secret_key
from app.settings import Settings

FORMAT = 1
DB_NAME, KEY_NAME, MANIFEST_NAME = "modelproxy.db", "secret.key", "backup.json"
SQLITE_MAGIC = b"SQLite format 3\x00"
CHUNK = 64 * 1024


def postgres_advice(settings: Settings) -> str:
    return ("the database is PostgreSQL: back it up with pg_dump and restore it with "
            f"pg_restore or psql, and keep the secret key ({key_source(settings)}) with the "
            "dump — without it no provider key can be opened")


def key_source(settings: Settings) -> str:
    return "MODELPROXY_SECRET_KEY" if settings.secret_key else str(settings.key_file)


# --- making a backup -------------------------------------------------------------------------


def make(db: pw.Database, settings: Settings, target: Path) -> Path:
    """Write a backup archive of the SQLite database `db` and the data directory's key file
    to `target` (0600), while servers may be using the database.

    It reads the database through a connection of its own, never one of `db`'s pool, so the
    server runs it in an OS thread (server/scheduler.py): the copy and the compression
    then hold up no request."""
    if not isinstance(db, pw.SqliteDatabase):
        raise StorageError(postgres_advice(settings))
    if db.database in ("", ":memory:"):
        raise StorageError("an in-memory database cannot be backed up")
    with contextlib.closing(sqlite3.connect(db.database, timeout=30)) as source:
        return _archive(source, settings, Path(target))


def _archive(source: sqlite3.Connection, settings: Settings, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".backup-") as work:  # 0700
        copy = Path(work) / DB_NAME
        _online_copy(source, copy)
        key = None if settings.secret_key else read_key_file(settings.key_file)
        _write_archive(target, copy, key, _manifest(copy, key, settings))
    return target


def _manifest(db_file: Path, key: str | None, settings: Settings) -> dict[str, Any]:
    return {"format": FORMAT, "made_at": utcnow().isoformat() + "Z", "version": __version__,
            "schema_version": _schema_version(db_file),
            "secret_key": "included" if key else
            "MODELPROXY_SECRET_KEY" if settings.secret_key else "none"}


def _online_copy(source: sqlite3.Connection, path: Path) -> None:
    # In one step: one read transaction, which holds up no writer in WAL mode. A copy in
    # steps starts over whenever another connection writes to the source (the log writer
    # does every 250 ms under traffic), so a large busy database might never be copied.
    with contextlib.closing(sqlite3.connect(path)) as copy:
        source.backup(copy)


def _write_archive(target: Path, db_file: Path, key: str | None, manifest: dict) -> None:
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w:gz",
                                                      compresslevel=1) as archive:
            _add(archive, MANIFEST_NAME, json.dumps(manifest, indent=2).encode())
            if key is not None:
                _add(archive, KEY_NAME, (key + "\n").encode())
            info = archive.gettarinfo(str(db_file), DB_NAME)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
            with db_file.open("rb") as data:
                archive.addfile(info, data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    archive.addfile(info, io.BytesIO(data))


# --- reading one ---------------------------------------------------------------------------


@dataclass
class Backup:
    """A backup unpacked into a private directory: its database file, key and manifest."""

    db_file: Path
    key: str | None
    manifest: dict[str, Any]


def unpack(source: Path, work: Path) -> Backup:
    """Read a backup archive (or a bare SQLite copy, as older versions made) into `work`
    and check it: the database is whole, not newer than this version, and its key opens it."""
    source = Path(source)
    if not source.is_file():
        raise StorageError(f"no backup file at {source}")
    db_file = work / DB_NAME
    with source.open("rb") as f:
        bare = f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    if bare:
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
            _online_copy(src, db_file)
        backup = Backup(db_file, None, {"format": 0})
    else:
        backup = _read_archive(source, db_file)
    _check_database(backup.db_file)
    return backup


def _read_archive(source: Path, db_file: Path) -> Backup:
    try:
        with tarfile.open(source, mode="r:*") as archive:
            manifest = json.loads(_member(archive, MANIFEST_NAME, source) or b"null")
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise StorageError(f"{source} is not a backup this version can read")
            key = _member(archive, KEY_NAME, source)
            data = archive.extractfile(archive.getmember(DB_NAME))
            fd = os.open(db_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := data.read(CHUNK):  # type: ignore[union-attr]
                    out.write(chunk)
    except (tarfile.TarError, KeyError, OSError, EOFError, ValueError) as exc:
        raise StorageError(f"{source} is not a readable backup ({exc})") from None
    return Backup(db_file, key.decode().strip() if key else None, manifest)


def _member(archive: tarfile.TarFile, name: str, source: Path) -> bytes | None:
    try:
        member = archive.getmember(name)
    except KeyError:
        return None
    if not member.isfile():
        raise StorageError(f"{source}: {name} is not a file")
    return archive.extractfile(member).read()  # type: ignore[union-attr]


def _check_database(db_file: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(db_file)) as conn:
            ok = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"the backup's database cannot be read: {exc}") from None
    if ok != ("ok",):
        raise StorageError(f"the backup's database is damaged: {ok[0] if ok else '?'}")
    version = _schema_version(db_file)
    if version > migrations.LATEST:
        raise StorageError(f"the backup was made by a newer ModelProxy (schema {version}; "
                           f"this one knows {migrations.LATEST}): restore it with that version")


def _schema_version(db_file: Path) -> int:
    with contextlib.closing(sqlite3.connect(db_file)) as conn:
        try:
            return conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
        except sqlite3.OperationalError:
            return 0


def key_check(db_file: Path) -> str | None:
    """The sealed key check stored in a database file (None: nothing was ever sealed)."""
    with contextlib.closing(sqlite3.connect(db_file)) as conn:
        try:
            row = conn.execute("SELECT value FROM setting WHERE key = ?",
                               (secret_key.CHECK_KEY,)).fetchone()
        except sqlite3.OperationalError:
            return None
    return json.loads(row[0]) if row and row[0] else None


# --- restoring -------------------------------------------------------------------------------


@dataclass
class Restored:
    database: Path
    key: str  # what opens its sealed values: "restored", "environment", "kept", "not needed"
    replaced: Path | None  # the backup made of what was there before (--force)


def target_database(settings: Settings) -> Path:
    path = sqlite_path(settings.database)
    if path is None:
        raise StorageError(postgres_advice(settings))
    if not path:
        raise StorageError("an in-memory database cannot be restored into")
    return Path(path)


def has_data(settings: Settings) -> bool:
    database = target_database(settings)
    return (database.exists() and database.stat().st_size > 0) or settings.key_file.exists()


@contextlib.contextmanager
def exclusive(database: Path):
    """The database file opened with SQLite's exclusive locking: refused at once while any
    other process (a server, a command) has it open; nobody else opens it meanwhile."""
    database.parent.mkdir(parents=True, exist_ok=True)
    create_private(database)
    conn = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("COMMIT")  # the lock stays: exclusive mode keeps it until close
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StorageError(f"cannot open {database}: {exc}") from None
            raise StorageError(
                f"{database} is in use (a server or another command has it open): stop the "
                "server first") from None
        yield conn
    finally:
        conn.close()


def restore(settings: Settings, backup: Backup, force: bool = False) -> Restored:
    """Put an unpacked backup's database and key in place of the configured data directory's.

    Refused while the database is in use, when the data directory already holds an
    appliance (unless `force`: then it is first backed up beside the others), and when no
    key at hand opens the backup's sealed values. SQLite's backup API writes the database
    through the exclusive connection, so the file is never swapped under anyone.
    """
    database = target_database(settings)
    key_state = _key_state(settings, backup, key_check(backup.db_file))
    had_data = has_data(settings)
    with exclusive(database) as conn:
        if had_data and not force:
            raise ConflictError(f"{settings.data_dir} already holds an appliance; restore over "
                                "it with --force (what is there is backed up first)")
        replaced = _keep_current(conn, settings) if had_data else None
        pending = settings.key_file.with_name(settings.key_file.name + ".new")
        if backup.key and not settings.secret_key:
            # The rotation's crash safety: a start after a cut-short restore finds the
            # pending key opens the restored database and swaps it in (secret_key.py).
            write_key_file(pending, backup.key)
        with contextlib.closing(sqlite3.connect(backup.db_file)) as src:
            src.backup(conn)
    if backup.key and not settings.secret_key:
        pending.replace(settings.key_file)
    return Restored(database, key_state, replaced)


def _key_state(settings: Settings, backup: Backup, check: str | None) -> str:
    if check is None:
        return "not needed"

    def opens(key: str | None) -> bool:
        return bool(key) and secret_key.opens(SecretBox(key), check)

    if settings.secret_key:
        if opens(settings.secret_key):
            return "environment"
        raise SecretKeyError("MODELPROXY_SECRET_KEY does not open this backup's provider keys: "
                             "set it to the key the backup was made with")
    if opens(backup.key):
        return "restored"
    if backup.key is None and opens(read_key_file(settings.key_file)):
        return "kept"  # an old bare copy restored next to the key it was made with
    raise SecretKeyError(
        "this backup holds no key that opens its provider keys"
        + (f" ({backup.manifest.get('secret_key')}): set MODELPROXY_SECRET_KEY to the key "
           "it was made with" if backup.manifest.get("format") else
           f": put the secret.key it was made with at {settings.key_file} first"))


def _keep_current(conn: sqlite3.Connection, settings: Settings) -> Path:
    """Back up what a forced restore replaces, beside the nightly backups (through the
    restore's exclusive connection: nobody else may open the database meanwhile)."""
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    target = settings.data_dir / "backups" / f"before-restore-{stamp}.tar.gz"
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return _archive(conn, settings, target)
