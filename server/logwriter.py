"""The request log, written off the request path.

Requests put one record on a queue (no I/O); one writer thread — a greenlet under serve —
drains it in batches: one transaction per batch inserts the rows, adds them to the daily
usage rollups and stamps the tokens' last use. It flushes at most every FLUSH_S seconds and
once more on stop, so a graceful stop loses no row.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections import defaultdict
from typing import Any

import peewee as pw

from app.models import RequestLog, Token, UsageDaily

log = logging.getLogger(__name__)
FLUSH_S = 0.25
MAX_BATCH = 1000
_STOP = object()


class LogWriter:
    def __init__(self, db: pw.Database, flush_s: float = FLUSH_S) -> None:
        self._db = db
        self._flush_s = flush_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.written = 0  # rows committed, for tests and metrics

    def write(self, record: dict[str, Any]) -> None:
        """Queue one request-log row (RequestLog field names). Never blocks, never fails."""
        self._queue.put(record)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="log-writer")
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued so far, then end the writer."""
        if self._thread is None:
            self._flush_all()
            return
        self._queue.put(_STOP)
        self._stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the request log could not be written before stopping")
        self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is not _STOP:
                self._stopping.wait(self._flush_s)  # gather a batch (cut short by stop)
            if self._flush_all(first):
                return

    def _flush_all(self, first: Any = None) -> bool:
        """Write `first` and what is queued, in batches; True when the stop mark was seen."""
        stopping = first is _STOP
        carry = [] if first is None or first is _STOP else [first]
        while True:
            batch, carry = carry, []
            while len(batch) < MAX_BATCH:
                try:
                    record = self._queue.get_nowait()
                except queue.Empty:
                    break
                if record is _STOP:
                    stopping = True
                else:
                    batch.append(record)
            if not batch:
                return stopping
            if not self._flush(batch):
                if stopping:
                    self._queue.put(_STOP)  # try again after the rows put back
                return False

    def _flush(self, batch: list[dict[str, Any]]) -> bool:
        try:
            with self._db.connection_context(), self._db.atomic():
                RequestLog.insert_many(batch).execute()
                _add_to_rollups(batch)
                _stamp_last_use(batch)
        except pw.PeeweeException as exc:
            log.error("could not write %d request-log rows (%s); will retry", len(batch), exc)
            for record in batch:
                self._queue.put(record)
            threading.Event().wait(1.0)  # back off; the database may be restarting
            return False
        self.written += len(batch)
        return True


def _add_to_rollups(batch: list[dict[str, Any]]) -> None:
    totals: dict[tuple, list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for r in batch:
        key = (r["time"].date(), r.get("token_id") or 0, r.get("endpoint_id") or 0,
               r.get("provider_id") or 0, r.get("model") or "")
        t = totals[key]
        t[0] += 1
        t[1] += r["status"] >= 400
        t[2] += r.get("prompt_tokens") or 0
        t[3] += r.get("completion_tokens") or 0
        t[4] += r["latency_ms"]
    U = UsageDaily
    rows = [dict(day=k[0], token_id=k[1], endpoint_id=k[2], provider_id=k[3], model=k[4],
                 requests=t[0], errors=t[1], prompt_tokens=t[2], completion_tokens=t[3],
                 latency_ms_sum=t[4]) for k, t in totals.items()]
    for row in rows:
        U.insert(**row).on_conflict(
            conflict_target=[U.day, U.token_id, U.endpoint_id, U.provider_id, U.model],
            update={U.requests: U.requests + pw.EXCLUDED.requests,
                    U.errors: U.errors + pw.EXCLUDED.errors,
                    U.prompt_tokens: U.prompt_tokens + pw.EXCLUDED.prompt_tokens,
                    U.completion_tokens: U.completion_tokens + pw.EXCLUDED.completion_tokens,
                    U.latency_ms_sum: U.latency_ms_sum + pw.EXCLUDED.latency_ms_sum},
        ).execute()


def _stamp_last_use(batch: list[dict[str, Any]]) -> None:
    last: dict[int, dt.datetime] = {}
    for r in batch:
        token_id = r.get("token_id")
        if token_id and r["status"] < 400:
            last[token_id] = max(last.get(token_id, r["time"]), r["time"])
    for token_id, moment in last.items():
        # last_used_at, not updated_at: using a token is not a change to it.
        Token.update(last_used_at=moment).where(Token.id == token_id).execute()
