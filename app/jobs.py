"""Housekeeping jobs (no scheduling here: server/scheduler.py runs them inside `serve`).

Each is safe to run at any time, does its work in small steps so the proxy never stalls,
and, where servers share a database, runs on one of them at a time (`JobLock`).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path

import peewee as pw

from app.errors import StorageError
from app.models import JobLock, RequestLog, database_proxy, utcnow
from app.services import sessions

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
PURGE_BATCH = 1000


def acquire_lock(name: str, ttl: dt.timedelta, holder: str = HOLDER) -> bool:
    """Take the named job lease until now + ttl, if nobody holds it; False otherwise.

    The lease is not given back when the job ends: it also spaces runs, so a job checked
    every minute with a ten-minute lease runs every ten minutes, on one server.
    """
    now = utcnow()
    with database_proxy.atomic():
        taken = (JobLock.update(holder=holder, expires_at=now + ttl)
                 .where((JobLock.name == name) & (JobLock.expires_at <= now))
                 .execute())
        if taken:
            return True
        try:
            with database_proxy.atomic():
                JobLock.create(name=name, holder=holder, expires_at=now + ttl)
            return True
        except pw.IntegrityError:
            return False


def purge_request_logs(retention_days: int, pause_s: float = 0.01) -> int:
    """Delete request-log rows older than the retention, PURGE_BATCH at a time (the
    rollups stay). Returns how many rows went."""
    cutoff = utcnow() - dt.timedelta(days=retention_days)
    removed = 0
    while True:
        batch = (RequestLog.select(RequestLog.id).where(RequestLog.time < cutoff)
                 .order_by(RequestLog.id).limit(PURGE_BATCH))
        ids = [row.id for row in batch]
        if not ids:
            return removed
        removed += RequestLog.delete().where(RequestLog.id.in_(ids)).execute()
        time.sleep(pause_s)  # let requests in (a greenlet switch under serve)


def purge_expired_sessions() -> int:
    return sessions.purge_expired()


def backup_sqlite(db: pw.Database, target: Path) -> Path:
    """An online, consistent copy of the SQLite database at `target`."""
    if not isinstance(db, pw.SqliteDatabase):
        raise StorageError("backups are for the SQLite database; back PostgreSQL up with "
                           "pg_dump")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with db.connection_context(), sqlite3.connect(partial) as copy:
        db.connection().backup(copy, pages=256, sleep=0.005)
    copy.close()
    partial.replace(target)
    return target


def nightly_backup(db: pw.Database, backups_dir: Path, keep: int) -> Path:
    """Back up into `backups_dir` as modelproxy-YYYYMMDD-HHMMSS.db, keeping the newest `keep`."""
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    made = backup_sqlite(db, backups_dir / f"modelproxy-{stamp}.db")
    for old in sorted(backups_dir.glob("modelproxy-*.db"))[:-keep]:
        old.unlink()
    return made
