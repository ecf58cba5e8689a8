"""Housekeeping jobs (no scheduling here: server/scheduler.py runs them inside `serve`).

Each is safe to run at any time, does its work in small steps so the proxy never stalls,
and, where servers share a database, runs on one of them at a time (`JobLock`).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import uuid
from pathlib import Path

import peewee as pw

from app import backups
from app.models import JobLock, RequestLog, database_proxy, utcnow
from app.services import sessions
from app.settings import Settings

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


BACKUP_PATTERNS = ("modelproxy-*.tar.gz", "modelproxy-*.db")  # .db: older versions' copies


def nightly_backup(db: pw.Database, settings: Settings, keep: int) -> Path:
    """Back up into <data-dir>/backups (0700) as modelproxy-YYYYMMDD-HHMMSS.tar.gz (the
    database and the key file, 0600: app.backups), keeping the newest `keep`."""
    backups_dir = settings.data_dir / "backups"
    backups_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    backups_dir.chmod(0o700)  # made by an older version with the default mode
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    made = backups.make(db, settings, backups_dir / f"modelproxy-{stamp}.tar.gz")
    kept = sorted((p for pattern in BACKUP_PATTERNS for p in backups_dir.glob(pattern)),
                  key=lambda p: p.name.split(".")[0])
    for old in kept[:-keep]:
        old.unlink()
    return made
