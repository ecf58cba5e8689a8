"""When the log writer commits: the first row after a quiet spell at once (so `modelproxy
logs` right after a request shows it), later rows gathered so that batches start at most
every flush interval, and whatever is queued on stop."""

from __future__ import annotations

import uuid
from typing import Any

from app.models import RequestLog, utcnow
from server.logwriter import LogWriter
from tests.server.client_fixtures import wait_for

QUIET_WAIT_S = 10.0  # far below the interval: a row that waits for it is not seen in time
INTERVAL_S = 120.0


def _record() -> dict:
    return {"time": utcnow(), "request_id": uuid.uuid4().hex, "status": 200, "latency_ms": 1.0}


def test_the_first_row_after_a_quiet_spell_is_written_at_once(db) -> None:
    batches: list[int] = []  # the rows already written when each batch began

    def counting(run: Any, *args: Any) -> Any:  # the writer's hook for each batch's commit
        batches.append(RequestLog.select().count())
        return run(*args)

    writer = LogWriter(db, flush_s=INTERVAL_S, offload=counting)
    writer.start()
    try:
        writer.write(_record())
        assert wait_for(lambda: RequestLog.select().count() == 1, QUIET_WAIT_S), \
            "the row waited for the flush interval"
        # Right after a batch: the writer takes the next row and gathers more behind it ...
        writer.write(_record())
        assert wait_for(writer._queue.empty, QUIET_WAIT_S)
        writer.write(_record())  # ... so this one joins it, in the batch written on stop
    finally:
        writer.stop()
    assert RequestLog.select().count() == 3
    assert batches == [0, 1], "one batch at once, then one of the two gathered rows"
