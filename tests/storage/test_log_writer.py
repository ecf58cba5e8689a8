"""The request-log writer on each database: no row can end it, a row with text no database
can store is written with that text replaced, a row the database refuses is kept aside in
the unwritten file (0600), and a database that is gone on stop loses no row either."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee as pw
import pytest

from app.db import connect
from app.models import RequestLog, UsageHourly, utcnow
from server.logwriter import UNWRITTEN_FILE, LogWriter
from tests.server.client_fixtures import wait_for

TOO_BIG = 2**70  # no INTEGER column takes it: SQLite's driver and PostgreSQL both refuse


def _row(request_id: str, **fields: Any) -> dict[str, Any]:
    return {"time": utcnow(), "request_id": request_id, "status": 200, "latency_ms": 3.0,
            "endpoint_id": 1, "model": "m", **fields}


def _rows_by_id() -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in RequestLog.select().dicts()}


def _rollup_requests() -> int:
    return int(UsageHourly.select(pw.fn.SUM(UsageHourly.requests)).scalar() or 0)


def _unwritten(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lone_surrogates_and_nul_are_written_replaced(db: pw.Database, tmp_path: Path) -> None:
    writer = LogWriter(db, unwritten_path=tmp_path / UNWRITTEN_FILE)
    for record in (_row("plain"), _row("surrogate", error="no endpoint at /api/\ud800x"),
                   _row("nul", model="m\x00", error="bad \udfff\x00 end"), _row("after")):
        writer.write(record)
    writer.stop()
    rows = _rows_by_id()
    assert set(rows) == {"plain", "surrogate", "nul", "after"}
    assert rows["surrogate"]["error"] == "no endpoint at /api/\ufffdx"
    assert (rows["nul"]["model"], rows["nul"]["error"]) == ("m\ufffd", "bad \ufffd\ufffd end")
    assert _rollup_requests() == 4 and writer.written == 4 and writer.kept_aside == 0
    assert not (tmp_path / UNWRITTEN_FILE).exists()


def test_a_row_the_database_refuses_is_kept_aside_and_the_rest_written(
        db: pw.Database, tmp_path: Path) -> None:
    unwritten = tmp_path / UNWRITTEN_FILE
    writer = LogWriter(db, unwritten_path=unwritten)
    for i in range(9):
        writer.write(_row(f"good-{i}"))
        if i == 4:
            writer.write(_row("refused", prompt_tokens=TOO_BIG))
    writer.stop()
    assert set(_rows_by_id()) == {f"good-{i}" for i in range(9)}
    assert _rollup_requests() == 9  # the rollups say what the rows say
    assert (writer.written, writer.kept_aside) == (9, 1)
    [kept] = _unwritten(unwritten)
    assert (kept["request_id"], kept["prompt_tokens"]) == ("refused", TOO_BIG)
    assert kept["unwritten_because"]
    assert stat.S_IMODE(unwritten.stat().st_mode) == 0o600


def test_the_writer_thread_outlives_bad_rows(db: pw.Database, tmp_path: Path) -> None:
    writer = LogWriter(db, flush_s=0.01, unwritten_path=tmp_path / UNWRITTEN_FILE)
    writer.start()
    try:
        writer.write(_row("refused", status=TOO_BIG))
        writer.write({"request_id": "no time or status"})  # a bug's row: cannot be built
        assert wait_for(lambda: writer.kept_aside == 2, timeout=5)
        writer.write(_row("later"))
        assert wait_for(lambda: writer.written == 1, timeout=5)
        assert writer.running
    finally:
        writer.stop()
    assert set(_rows_by_id()) == {"later"}
    assert [r["request_id"] for r in _unwritten(tmp_path / UNWRITTEN_FILE)] == [
        "refused", "no time or status"]


def test_rows_are_kept_aside_when_the_database_is_gone_at_stop(tmp_path: Path) -> None:
    gone = pw.SqliteDatabase(str(tmp_path / "no-such-dir" / "gone.db"))  # cannot be opened
    unwritten = tmp_path / UNWRITTEN_FILE
    writer = LogWriter(gone, flush_s=60, unwritten_path=unwritten)  # only the stop flushes
    writer.start()
    for i in range(3):
        writer.write(_row(f"queued-{i}"))
    stopper = threading.Thread(target=writer.stop)
    stopper.start()
    stopper.join(timeout=20)  # three tries a second apart, then kept aside
    assert not stopper.is_alive() and not writer.running
    assert sorted(r["request_id"] for r in _unwritten(unwritten)) == [
        "queued-0", "queued-1", "queued-2"]
    assert (writer.written, writer.kept_aside) == (0, 3)


# --- a pool whose connections are all in use ------------------------------------------------


@contextmanager
def _all_connections_held(pool: pw.Database, count: int) -> Iterator[None]:
    """Every connection of `pool` (`count`) taken by threads of its own for the block."""
    release, taken = threading.Event(), threading.Barrier(count + 1)

    def hold() -> None:
        with pool.connection_context():
            taken.wait(timeout=5)
            release.wait(timeout=30)

    holders = [threading.Thread(target=hold) for _ in range(count)]
    for holder in holders:
        holder.start()
    taken.wait(timeout=5)
    try:
        yield
    finally:
        release.set()
        for holder in holders:
            holder.join(timeout=5)


def test_a_full_pool_delays_rows_but_never_keeps_them_aside(
        db: pw.Database, database_url: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """A full pool's MaxConnectionsExceeded (a ValueError) was taken for the rows' fault:
    with a pool of 2, both held, 8 rows were 0 written and 8 kept aside."""
    pool = connect(database_url, max_connections=2, wait_s=0.05)
    writer = LogWriter(pool, flush_s=0.01, unwritten_path=tmp_path / UNWRITTEN_FILE)
    seen: list[str] = []
    writer.report_written(lambda rows: seen.extend(r["request_id"] for r in rows))
    writer.start()
    try:
        with _all_connections_held(pool, 2):
            for i in range(8):
                writer.write(_row(f"waiting-{i}"))
            assert wait_for(lambda: "retrying in" in caplog.text, timeout=10), caplog.text
            assert writer.kept_aside == 0
        assert wait_for(lambda: writer.written == 8, timeout=10)  # retried 1 s later
    finally:
        writer.stop()
        pool.close_all()
    assert writer.kept_aside == 0 and not (tmp_path / UNWRITTEN_FILE).exists()
    assert set(_rows_by_id()) == set(seen) == {f"waiting-{i}" for i in range(8)}
    assert _rollup_requests() == 8


def test_a_connection_freed_within_the_pool_wait_is_waited_for(
        db: pw.Database, database_url: str, tmp_path: Path) -> None:
    pool = connect(database_url, max_connections=1, wait_s=30)
    writer = LogWriter(pool, unwritten_path=tmp_path / UNWRITTEN_FILE)
    with _all_connections_held(pool, 1):
        stopper = threading.Thread(target=writer.stop)  # writes what is queued, inline
        writer.write(_row("patient"))
        stopper.start()
        stopper.join(timeout=0.5)
        assert stopper.is_alive()  # waiting for the pool, not failing
    stopper.join(timeout=10)
    pool.close_all()
    assert (writer.written, writer.kept_aside) == (1, 0)
    assert set(_rows_by_id()) == {"patient"}


@pytest.mark.postgres  # rows are written at once on PostgreSQL only (servers share it)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_write_now_writes_counts_and_gives_way_to_a_full_pool(
        db: pw.Database, database_url: str, tmp_path: Path) -> None:
    pool = connect(database_url, max_connections=1, wait_s=0.05)
    writer = LogWriter(pool, unwritten_path=tmp_path / UNWRITTEN_FILE)
    try:
        assert writer.write_now(_row("at-once")) is True
        with _all_connections_held(pool, 1):
            assert writer.write_now(_row("pool-full")) is False  # the caller queues it
    finally:
        pool.close_all()
    assert (writer.written, writer.kept_aside) == (1, 0)  # the metric counts write_now's
    assert set(_rows_by_id()) == {"at-once"} and _rollup_requests() == 1
