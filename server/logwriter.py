"""The request log, written off the request path.

Requests put one record on a queue (no I/O); one writer thread — a greenlet under serve —
drains it in batches: one transaction per batch inserts the rows, adds them to the daily
usage rollups and stamps the tokens' last use. Batches start at most every FLUSH_S seconds
(a row after a quiet spell at once) and once more on stop, so a graceful stop loses no row.

No row can end the writer. Text is made encodable before it is written (`app.text`); a
batch the database refuses for its content is split until the rows that cannot be written
are found, and those are kept aside in `<data-dir>/unwritten-requests.jsonl` (logged and
counted, never dropped silently). A database that does not answer, or whose connections
are all in use, is retried with backoff: that is never a row's fault.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee as pw

from app.db import DATABASE_AWAY, DATABASE_ERRORS
from server.logsql import batch_statements, run_in_transaction, write_batch

__all__ = ["UNWRITTEN_FILE", "LogWriter", "write_batch"]

log = logging.getLogger(__name__)
FLUSH_S = 0.25
MAX_BATCH = 1000
RETRY_S = (1.0, 2.0, 4.0, 8.0)  # backoff while the database does not answer
STOP_ATTEMPTS = 3  # on stop, tries before the rows left are kept aside
UNWRITTEN_FILE = "unwritten-requests.jsonl"
WARN_EVERY_S = 10.0  # write_now's failures are said at most this often
_STOP = object()

# The database is away or busy (restarting, locked, unreachable, every pooled connection
# in use): the same rows will do later. Checked first: a full pool's error is a ValueError.
TRANSIENT = DATABASE_AWAY
# Something in the rows themselves, so retrying them as they are cannot help: a value the
# database refuses (out of range, of the wrong type, breaking a constraint) or the driver
# cannot send (ValueError), or a record the writer cannot build (a bug's row). Anything
# else is the writer's bug: its batch is kept aside whole (`_run`).
ROW_ERRORS = (pw.DataError, pw.IntegrityError, pw.ProgrammingError, ValueError, TypeError,
              KeyError, AttributeError, OverflowError)


Offload = Callable[..., Any]
# Told the rows of each batch once they are committed (the quota book counts rows that are
# not yet in the rollups from memory).
WrittenHook = Callable[[list[dict[str, Any]]], None]


class LogWriter:
    """`offload(fn, *args)` runs a batch's transaction; under serve on SQLite it is an OS
    thread of gevent's pool. Inline, a 150-row batch held every request up ~5 ms and a WAL
    checkpoint up to ~30 ms; offloaded, p99 at one connection is ~1 ms lower, though the
    event loop still waits for much of a transaction (the GIL is not let go of for all of
    it: measured, cause not found). Rows that cannot be written go to `unwritten_path`."""

    def __init__(self, db: pw.Database, flush_s: float = FLUSH_S,
                 offload: Offload | None = None, unwritten_path: Path | None = None) -> None:
        self._db = db
        self._flush_s = flush_s
        self._next_flush = 0.0  # monotonic time before which no batch starts
        self._offload = offload or (lambda fn, *args: fn(*args))
        self._unwritten_path = unwritten_path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._failures = 0  # database failures in a row
        self._in_flight: list[dict[str, Any]] = []
        self._on_written: WrittenHook | None = None
        self._warned_at = -WARN_EVERY_S  # when write_now last said it failed
        self.written = 0  # rows committed (batched or by write_now), for tests and metrics
        self.kept_aside = 0  # rows that could not be written, in the unwritten file

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive (what /api/health reports)."""
        return self._thread is not None and self._thread.is_alive()

    def write(self, record: dict[str, Any]) -> None:
        """Queue one request-log row (RequestLog field names). Never blocks, never fails."""
        self._queue.put(record)

    def report_written(self, hook: WrittenHook) -> None:
        """Call `hook` with the rows of each batch once they are committed."""
        self._on_written = hook

    def write_now(self, record: dict[str, Any]) -> bool:
        """Write one row (and its rollups) in a transaction of its own, now, on PostgreSQL
        (the one database servers share, whose other servers must see it at once); False
        if it could not be: the caller then queues it with `write`."""
        try:
            statements = batch_statements(self._db, [record])
            with self._db.connection_context(), pw.__exception_wrapper__:
                # One round trip (a quarter of the time statement by statement). Seen by
                # other sessions once committed; durable a moment later, as the batched
                # writer's rows are (it holds them for up to 250 ms).
                sql = "; ".join(["BEGIN", "SET LOCAL synchronous_commit TO OFF",
                                 *(sql for sql, _ in statements), "COMMIT"])
                cursor = self._db.connection().cursor()
                try:
                    cursor.execute(sql, [value for _, params in statements for value in params])
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
        # ValueError: text the driver cannot send (a NUL, a lone surrogate).
        except (*DATABASE_ERRORS, ValueError) as exc:
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_S:  # not once per request: a log flood
                self._warned_at = now
                log.warning("could not write request %s's row at once (%s); it is queued "
                            "(said at most every %.0f s)", record.get("request_id"), exc,
                            WARN_EVERY_S)
            return False
        self.written += 1
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="log-writer")
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued so far, then end the writer."""
        if self._thread is None:
            while not self._flush_all(_STOP):
                pass  # each round tries again; after STOP_ATTEMPTS the rows are kept aside
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
                self._stopping.wait(self._gather_s())  # gather a batch (cut short by stop)
            try:
                if self._flush_all(first):
                    return
            except Exception as exc:  # a bug in the writer: it must not end the request log
                log.exception("the request-log writer failed; its rows are kept aside")
                self._keep_aside(self._in_flight, exc)  # (some may be written: better twice)
                if self._stopping.is_set():
                    return

    def _gather_s(self) -> float:
        """How long to gather rows before the next batch. Batches start at most every
        FLUSH_S, so load still makes few transactions; but the first row after a quiet
        spell is written at once, so `modelproxy logs` run right after a request shows it
        (waiting FLUSH_S for every batch showed "(none)" where `usage` counted it)."""
        now = time.monotonic()
        wait = max(0.0, self._next_flush - now)
        self._next_flush = now + wait + self._flush_s
        return wait

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
            self._in_flight = batch
            done = self._flush(batch, stopping)
            self._in_flight = []
            if not done:
                if stopping:
                    self._queue.put(_STOP)  # try again after the rows put back
                return False

    def _flush(self, batch: list[dict[str, Any]], stopping: bool = False) -> bool:
        """Write `batch`: True when each row is written or kept aside, False when the
        database failed (the rows not yet written are queued again)."""
        pending = [batch]
        while pending:
            piece = pending.pop()
            try:
                self._commit(piece)
            except TRANSIENT as exc:
                return self._retry_later([r for p in (piece, *pending) for r in p], exc,
                                         stopping)
            except ROW_ERRORS as exc:
                if len(piece) == 1:
                    self._keep_aside(piece, exc)
                else:  # halve it until the rows the database refuses are found
                    middle = len(piece) // 2
                    pending += [piece[middle:], piece[:middle]]
            else:
                self.written += len(piece)
                self._failures = 0
                self._report(piece)
        return True

    def _report(self, rows: list[dict[str, Any]]) -> None:
        if self._on_written is None:
            return
        try:
            self._on_written(rows)
        except Exception:  # a bug in the hook: the rows are written all the same
            log.exception("could not report written request-log rows")

    def _commit(self, rows: list[dict[str, Any]]) -> None:
        # The SQL is built before the transaction, pausing between pieces: under serve the
        # writer shares the event loop with requests, and a 150-row batch is ~2 ms of Python.
        statements = batch_statements(self._db, rows, pause=_let_others_run)
        with self._db.connection_context():
            self._offload(run_in_transaction, self._db.connection(), statements)

    def _retry_later(self, rows: list[dict[str, Any]], exc: Exception, stopping: bool) -> bool:
        self._failures += 1
        if stopping and self._failures >= STOP_ATTEMPTS:
            self._keep_aside(rows, exc)  # stopping: no later to wait for
            return True
        delay = RETRY_S[0] if stopping else RETRY_S[min(self._failures, len(RETRY_S)) - 1]
        log.error("could not write %d request-log rows (%s); retrying in %.0f s",
                  len(rows), exc, delay)
        for record in rows:
            self._queue.put(record)
        threading.Event().wait(delay)  # back off; the database may be restarting
        return False

    def _keep_aside(self, rows: list[dict[str, Any]], exc: BaseException) -> None:
        """Append rows that cannot be written to the unwritten file (0600), one JSON line
        each; if even that fails, the log has them."""
        if not rows:
            return
        lines = "".join(json.dumps({**r, "unwritten_because": str(exc)}, default=str) + "\n"
                        for r in rows)
        self.kept_aside += len(rows)
        if self._unwritten_path is None:
            log.error("request-log rows not written (%s): %s", exc, lines)
            return
        try:
            self._unwritten_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._unwritten_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(lines)
        except OSError as write_error:
            log.error("request-log rows not written (%s), nor kept in %s (%s): %s",
                      exc, self._unwritten_path, write_error, lines)
            return
        log.error("%d request-log row(s) could not be written (%s); kept in %s",
                  len(rows), exc, self._unwritten_path)


def _let_others_run() -> None:
    time.sleep(0)  # gevent's sleep under serve: other greenlets run; elsewhere a no-op
