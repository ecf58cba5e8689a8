"""The quota book and the log writer together, on each database: a settled request whose
row could not be written at once counts from memory until the writer reports the row
written, then once, from the rollups — not for a fixed time after (it was 60 s, counted
twice meanwhile: a token near its quota got spurious 429s)."""

from __future__ import annotations

from pathlib import Path

import peewee as pw

from app.models import utcnow
from server.client_api.gateway import _monthly_usage
from server.client_api.limits import AWAY_S, QuotaBook, QuotaRefused
from server.logwriter import UNWRITTEN_FILE, LogWriter

TOKEN_ID = 42


def _row(request_id: str) -> dict:
    return {"time": utcnow(), "request_id": request_id, "token_id": TOKEN_ID, "status": 200,
            "latency_ms": 2.0, "prompt_tokens": 5, "completion_tokens": 5, "model": "m"}


def _fits(book: QuotaBook, max_requests: int) -> bool:
    try:
        book.reserve(TOKEN_ID, max_requests, None)
    except QuotaRefused:
        return False
    book.settle(TOKEN_ID, False, 0)  # only asking
    return True


def test_a_row_written_late_counts_once_as_soon_as_it_is_written(
        db: pw.Database, tmp_path: Path) -> None:
    writer = LogWriter(db, unwritten_path=tmp_path / UNWRITTEN_FILE)
    now = [0.0]
    book = QuotaBook(_monthly_usage, reread=True, clock=lambda: now[0])
    writer.report_written(book.written)
    assert _fits(book, 2)
    late = _row("late")
    book.reserve(TOKEN_ID, 2, None)
    assert book.settle(TOKEN_ID, True, 10, write=lambda: False, row=late) is False
    writer.write(late)  # what the gateway does with a row not written at once
    now[0] += AWAY_S  # the database is asked again
    assert _fits(book, 2) and not _fits(book, 1)  # 1 used: 0 in the rollups, 1 in memory
    writer.stop()  # the batched writer writes it, and reports it
    assert _monthly_usage(TOKEN_ID, utcnow().date().replace(day=1)) == (1, 10)
    assert _fits(book, 2) and not _fits(book, 1)  # still 1: from the rollups alone
