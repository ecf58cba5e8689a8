"""When the log writer commits: the first row after a quiet spell at once (so `modelproxy
logs` right after a request shows it), later rows gathered so that batches start at most
every flush interval, and whatever is queued on stop."""

from __future__ import annotations

import time
import uuid

from app.models import RequestLog, utcnow
from server.logwriter import LogWriter

QUIET_WAIT_S = 10.0  # far below the interval: a row that waits for it is not seen in time
INTERVAL_S = 120.0


def _record() -> dict:
    return {"time": utcnow(), "request_id": uuid.uuid4().hex, "status": 200, "latency_ms": 1.0}


def _rows_within(count: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if RequestLog.select().count() >= count:
            return True
        time.sleep(0.02)
    return False


def test_the_first_row_after_a_quiet_spell_is_written_at_once(db) -> None:
    writer = LogWriter(db, flush_s=INTERVAL_S)
    writer.start()
    try:
        writer.write(_record())
        assert _rows_within(1, QUIET_WAIT_S), "the row waited for the flush interval"
        writer.write(_record())  # right after a batch: gathered for the next one
        assert not _rows_within(2, 0.3)
    finally:
        writer.stop()
    assert RequestLog.select().count() == 2  # the gathered row is written on stop
