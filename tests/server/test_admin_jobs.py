"""Housekeeping jobs (app/jobs.py) on a real database — SQLite and PostgreSQL through the
`db` fixture — plus the backup command and the scheduled provider check of a running
server."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import sqlite3
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee as pw
import pytest
import requests

from app import backups, jobs
from app.db import open_database
from app.errors import StorageError
from app.models import TABLES, JobLock, RequestLog, UsageDaily, UsageHourly, utcnow
from app.services import secret_key
from app.settings import Settings, load_settings
from server.logwriter import write_batch

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.live import LiveServer  # noqa: E402
from tests.server.admin_fixtures import AdminAppliance, chat, wait_until  # noqa: E402
from tests.server.client_fixtures import clean_environ  # noqa: E402

pytest_plugins = ["tests.server.admin_fixtures"]


def _row(moment: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {"time": moment, "request_id": uuid.uuid4().hex, "token_id": 1, "endpoint_id": 2,
            "provider_id": 3, "model": "m", "status": 200, "latency_ms": 12.5, "ttfb_ms": 3.0,
            "prompt_tokens": 10, "completion_tokens": 5, "usage_estimated": False,
            "client_ip": "127.0.0.1", "stream": False, "error": None, **extra}


def _rollup_totals(model: type[pw.Model]) -> tuple[int, int, int]:
    row = model.select(pw.fn.SUM(model.requests), pw.fn.SUM(model.prompt_tokens),
                       pw.fn.SUM(model.completion_tokens)).tuples().get()
    return tuple(int(v or 0) for v in row)


# --- purging the request log --------------------------------------------------------------------


def test_purge_deletes_only_rows_older_than_the_retention(db: pw.Database) -> None:
    now = utcnow()
    old = [_row(now - dt.timedelta(days=100, minutes=i)) for i in range(1205)]
    edge_old = [_row(now - dt.timedelta(days=30, hours=1))]
    kept = [_row(now - dt.timedelta(days=29)), _row(now - dt.timedelta(days=1)), _row(now)]
    with db.atomic():
        write_batch(db, old + edge_old + kept)
    assert RequestLog.select().count() == 1209
    daily, hourly = _rollup_totals(UsageDaily), _rollup_totals(UsageHourly)
    assert daily == hourly == (1209, 12090, 6045)

    removed = jobs.purge_request_logs(30, pause_s=0)
    assert removed == 1206
    left = {r.request_id for r in RequestLog.select()}
    assert left == {r["request_id"] for r in kept}
    assert _rollup_totals(UsageDaily) == daily, "the rollups stay"
    assert _rollup_totals(UsageHourly) == hourly
    assert jobs.purge_request_logs(30, pause_s=0) == 0
    assert jobs.purge_request_logs(2, pause_s=0) == 1
    assert RequestLog.select().count() == 2


# --- job locks ----------------------------------------------------------------------------------


def test_a_job_lock_refuses_a_second_holder_until_the_lease_ends(db: pw.Database) -> None:
    assert jobs.acquire_lock("purge", dt.timedelta(seconds=1.5), holder="server-a") is True
    assert jobs.acquire_lock("purge", dt.timedelta(minutes=5), holder="server-b") is False
    assert JobLock.get_by_id("purge").holder == "server-a"
    # another job's lock is separate
    assert jobs.acquire_lock("backup", dt.timedelta(minutes=5), holder="server-b") is True
    time.sleep(1.6)
    assert jobs.acquire_lock("purge", dt.timedelta(minutes=5), holder="server-b") is True
    assert JobLock.get_by_id("purge").holder == "server-b"
    assert jobs.acquire_lock("purge", dt.timedelta(minutes=5), holder="server-a") is False
    assert JobLock.select().count() == 2


# --- backups ------------------------------------------------------------------------------------


def _counts_in(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        names = {r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {m._meta.table_name: copy.execute(
            f'SELECT COUNT(*) FROM "{m._meta.table_name}"').fetchone()[0]
            for m in TABLES if m._meta.table_name in names}


def _counts(db: pw.Database) -> dict[str, int]:
    return {m._meta.table_name: m.select().count() for m in TABLES}


def _seed(db: pw.Database, rows: int = 50) -> None:
    with db.atomic():
        write_batch(db, [_row(utcnow() - dt.timedelta(minutes=i)) for i in range(rows)])
    jobs.acquire_lock("seeded", dt.timedelta(minutes=1), holder="test")


def _counts_in_backup(archive: Path) -> dict[str, int]:
    """Table counts of the database in a backup archive, which must also hold the key."""
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as backup, tempfile.TemporaryDirectory() as work:
        assert {"modelproxy.db", "secret.key", "backup.json"} <= set(backup.getnames())
        copy = Path(work) / "copy.db"
        copy.write_bytes(backup.extractfile("modelproxy.db").read())
        return _counts_in(copy)


def test_backups_are_owner_only_archives_and_only_the_newest_are_kept(
        db: pw.Database, settings: Settings, tmp_path: Path) -> None:
    _seed(db)
    secret_key.load_box(settings)  # the key file the backups carry
    if not isinstance(db, pw.SqliteDatabase):
        with pytest.raises(StorageError, match="pg_dump"):
            backups.make(db, settings, tmp_path / "copy.tar.gz")
        return
    expected = _counts(db)
    assert expected["request_log"] == 50

    copy = backups.make(db, settings, tmp_path / "nested" / "copy.tar.gz")
    assert copy == tmp_path / "nested" / "copy.tar.gz"
    assert _counts_in_backup(copy) == expected
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.tar.gz"]

    folder = settings.data_dir / "backups"
    folder.mkdir(mode=0o755)  # as older versions made it
    stale = [folder / f"modelproxy-20{y}0101-000000.db" for y in (20, 21, 22)]
    for path in stale:
        path.write_bytes(b"an old backup")
    made = jobs.nightly_backup(db, settings, keep=2)
    assert made.parent == folder and made.name.startswith("modelproxy-")
    assert made.name.endswith(".tar.gz") and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == [stale[-1].name, made.name]
    assert _counts_in_backup(made) == expected

    write_batch(db, [_row(utcnow())])
    assert _counts_in_backup(jobs.nightly_backup(db, settings, keep=1))["request_log"] == 51
    assert len(list(folder.iterdir())) == 1


def test_backup_command_copies_a_data_directory(
        make_appliance: Callable[..., AdminAppliance], tmp_path: Path) -> None:
    env = make_appliance("backup-cli")
    root = env.admin
    assert root is not None
    endpoint = root.create_endpoint(env.provider_ids["echo"])
    token = root.create_token()
    for _ in range(3):
        assert chat(env.url, token["token"], endpoint["path"]).status_code == 200
    root.wait_for_log_rows(3)
    target = tmp_path / "out" / "copy.tar.gz"
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "backup", str(target), "--data-dir",
         str(env.data_dir)], capture_output=True, text=True, timeout=60, env=clean_environ(),
        check=False)
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout and "mode 0600" in result.stdout
    counts = _counts_in_backup(target)
    assert counts["request_log"] == 3 and counts["token"] == 1 and counts["endpoint"] == 1
    assert counts["provider"] == 1 and counts["admin"] == 2
    with env.appliance.session():
        assert counts == _counts(env.appliance.db)


# --- the scheduled provider check -----------------------------------------------------------------


def test_a_running_server_checks_its_providers_at_start(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    env = make_appliance("health")
    root = env.admin
    assert root is not None
    echo = env.provider_ids["echo"]

    def checked() -> bool:
        health = {h["provider_id"]: h for h in root.ok("GET", "overview")["upstream_health"]}
        return health[echo]["checked_at"] is not None

    assert wait_until(checked, 10, interval=0.2), root.ok("GET", "overview")
    entry = next(h for h in root.ok("GET", "overview")["upstream_health"]
                 if h["provider_id"] == echo)
    assert entry["ok"] is True and entry["error"] is None and entry["name"] == "echo"
    assert entry["latency_ms"] is not None


# --- the nightly backup under a running server ----------------------------------------------------

BALLAST_MB = 100  # a database the size of a busy office's months: its copy takes a while


def test_the_server_answers_while_its_nightly_backup_runs(tmp_path: Path) -> None:
    """The backup's copy and compression run in an OS thread (issue 11 review: they ran on
    the event loop, and /api/health waited for the whole copy). A health check asked after
    the copy began is answered before the copy is over."""
    data_dir = tmp_path / "data"
    open_database(load_settings({"data_dir": str(data_dir)}, environ={},
                                env_file=None)).close_all()
    with contextlib.closing(sqlite3.connect(data_dir / "modelproxy.db")) as database:
        database.execute("CREATE TABLE ballast (b BLOB)")
        database.executemany("INSERT INTO ballast VALUES (zeroblob(?))",
                             [(1 << 20,)] * BALLAST_MB)
        database.commit()
    folder = data_dir / "backups"

    def copying() -> bool:  # the database copy is being made, the archive not yet
        return (any(folder.glob(".backup-*/modelproxy.db"))
                and not any(folder.glob("*.partial")) and not any(folder.glob("*.tar.gz")))

    with LiveServer(data_dir, module="tests.server.serve_backup_on_signal") as live:
        assert live.process is not None
        assert wait_until(lambda: live.process.send_signal(signal.SIGUSR1) or copying(), 30,
                          interval=0.005), "the backup did not start"
        answered_while_copying = 0
        with requests.Session() as session:
            while copying():
                health = session.get(live.url + "/api/health", timeout=30)
                assert health.status_code == 200, health.text
                answered_while_copying += copying()
        assert answered_while_copying > 0, "/api/health waited for the copy to finish"
        assert wait_until(lambda: any(folder.glob("modelproxy-*.tar.gz")), 30)
    with tarfile.open(next(folder.glob("modelproxy-*.tar.gz"))) as backup:
        copy = tmp_path / "copy.db"
        copy.write_bytes(backup.extractfile("modelproxy.db").read())
    with contextlib.closing(sqlite3.connect(copy)) as restored:
        assert restored.execute("SELECT COUNT(*) FROM ballast").fetchone() == (BALLAST_MB,)
