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
from collections.abc import Callable
from typing import Any

import peewee as pw

from app import latency
from app.models import RequestLog, Token, UsageDaily, UsageHourly

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
    """Add the batch to the daily and hourly rollups with one upsert per group."""
    for model, period_field, period_of in (
        (UsageDaily, "day", lambda t: t.date()),
        (UsageHourly, "hour", lambda t: t.replace(minute=0, second=0, microsecond=0)),
    ):
        rows = _group(batch, period_field, period_of)
        key = [getattr(model, period_field), model.token_id, model.endpoint_id,
               model.provider_id, model.model]
        adds = {getattr(model, c): getattr(model, c) + getattr(pw.EXCLUDED, c)
                for c in _ADDITIVE}
        for row in rows:
            model.insert(**row).on_conflict(conflict_target=key, update=adds).execute()


_ADDITIVE = ("requests", "errors", "prompt_tokens", "completion_tokens", "latency_ms_sum",
             *latency.COLUMNS)


def _group(batch: list[dict[str, Any]], period_field: str,
           period_of: Callable[[dt.datetime], Any]) -> list[dict[str, Any]]:
    groups: dict[tuple, dict[str, Any]] = {}
    for r in batch:
        key = (period_of(r["time"]), r.get("token_id") or 0, r.get("endpoint_id") or 0,
               r.get("provider_id") or 0, r.get("model") or "")
        row = groups.get(key)
        if row is None:
            row = groups[key] = {period_field: key[0], "token_id": key[1], "endpoint_id": key[2],
                                 "provider_id": key[3], "model": key[4],
                                 **dict.fromkeys(_ADDITIVE, 0)}
        row["requests"] += 1
        row["errors"] += r["status"] >= 400
        row["prompt_tokens"] += r.get("prompt_tokens") or 0
        row["completion_tokens"] += r.get("completion_tokens") or 0
        row["latency_ms_sum"] += r["latency_ms"]
        row[latency.COLUMNS[latency.bucket(r["latency_ms"])]] += 1
    return list(groups.values())


def _stamp_last_use(batch: list[dict[str, Any]]) -> None:
    last: dict[int, dt.datetime] = {}
    for r in batch:
        token_id = r.get("token_id")
        if token_id and r["status"] < 400:
            last[token_id] = max(last.get(token_id, r["time"]), r["time"])
    for token_id, moment in last.items():
        # last_used_at, not updated_at: using a token is not a change to it.
        Token.update(last_used_at=moment).where(Token.id == token_id).execute()
