"""Budget alerts: a token's or an endpoint's month spend crossing 80 % or 100 % of its
monthly budget.

The quota book says, as each request settles, what the subject's month had spent before
it and after (limits.Spend); a threshold with before < threshold <= after is crossed.
Settling only queues the crossing: a background thread (a greenlet under serve) inserts
its `budget_alert` row — unique per (subject, id, month, threshold), so a crossing happens
once across restarts and servers: where the insert fails as a duplicate, another server
(or an earlier run) had it and nothing is sent — and, when the `budget_webhook_url` option
is set, POSTs one JSON body to it, retrying with backoff. Nothing here blocks or fails a
request; alerts past QUEUE_MAX waiting are dropped with a warning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import peewee as pw
import requests

from app.db import DATABASE_ERRORS
from app.models import BudgetAlert, utcnow
from app.prices import CURRENCY, NANOS_PER_USD
from server.catalog import Catalog, TokenRecord

if TYPE_CHECKING:  # at run time a cycle: the gateway (in client_api) imports this module
    from server.client_api.quota_terms import Spend

log = logging.getLogger(__name__)

THRESHOLDS = (80, 100)  # percent of the budget
BACKOFF_S = (1, 2, 4, 8, 16)  # between the webhook's tries: six in all
TIMEOUT_S = 5.0  # each try
QUEUE_MAX = 1000
STOP_WAIT_S = 1.0  # what stop() waits for a try in progress (never for the retries)


@dataclass(frozen=True)
class Crossing:
    """One subject's month spend crossing one threshold of its budget."""

    subject: str  # "token" or "endpoint"
    subject_id: int
    name: str
    month: dt.date  # its first day
    threshold: int  # percent
    budget_nanos: int
    spent_nanos: int  # the month's spend once the crossing request settled

    def body(self) -> dict[str, Any]:
        """What the webhook is sent."""
        return {"event": "budget.threshold", "subject": self.subject, "id": self.subject_id,
                "name": self.name, "threshold": self.threshold,
                "budget": self.budget_nanos / NANOS_PER_USD,
                "spent": self.spent_nanos / NANOS_PER_USD,
                "month": self.month.isoformat(), "currency": CURRENCY}


def crossings(spend: Spend, name: str, budget_nanos: int) -> list[Crossing]:
    """The thresholds `spend` crossed (spent before < threshold <= spent after)."""
    subject, subject_id, month = spend.month
    found = []
    for threshold in THRESHOLDS:
        line = budget_nanos * threshold // 100
        if spend.before < line <= spend.after:
            found.append(Crossing(subject, subject_id, name, month, threshold, budget_nanos,
                                  spend.after))
    return found


Post = Callable[[str, dict[str, Any]], bool]  # (url, body) -> accepted


class BudgetAlerts:
    """Finds crossings as requests settle (`spent`) and delivers them in the background."""

    def __init__(self, catalog: Catalog, db: pw.Database, post: Post | None = None,
                 wait: Callable[[float], Any] | None = None,
                 queue_max: int = QUEUE_MAX) -> None:
        self._catalog = catalog
        self._db = db
        self._post = post or _post_json
        self._stopping = threading.Event()
        # Between tries; returns early (truthy) once stopping. Injectable for tests.
        self._wait = wait or self._stopping.wait
        self._queue: queue.Queue[Crossing | None] = queue.Queue(queue_max)
        self._thread: threading.Thread | None = None
        self._tokens: tuple[object, dict[int, TokenRecord]] = (None, {})

    # --- on the request's path: find and queue, nothing more --------------------------

    def spent(self, spends: Iterable[Spend]) -> None:
        """Queue the budget crossings of a settled request's spends."""
        for spend in spends:
            if spend.after <= spend.before:
                continue  # it cost nothing: nothing crossed
            budget = self._budget(spend.month[0], spend.month[1])
            if budget is None:
                continue
            for crossing in crossings(spend, *budget):
                self._enqueue(crossing)

    def _budget(self, subject: str, subject_id: int) -> tuple[str, int] | None:
        """The subject's name and budget (nanos), or None where it has no budget now."""
        record: Any = None
        if subject == "endpoint":
            record = self._catalog.endpoints_by_id.get(subject_id)
        elif subject == "token":
            record = self._token(subject_id)
        if record is None or record.monthly_budget is None:
            return None
        return record.name, int(Decimal(record.monthly_budget) * NANOS_PER_USD)

    def _token(self, token_id: int) -> TokenRecord | None:
        """A token by id: the catalog keeps them by prefix, so an index is made once per
        catalog reload (its dict is replaced whole then)."""
        by_prefix = self._catalog.tokens_by_prefix
        seen, by_id = self._tokens
        if seen is not by_prefix:
            by_id = {t.id: t for t in by_prefix.values()}
            self._tokens = (by_prefix, by_id)
        return by_id.get(token_id)

    def _enqueue(self, crossing: Crossing) -> None:
        try:
            self._queue.put_nowait(crossing)
        except queue.Full:
            log.warning("budget alert dropped (%d waiting): %s %s %s at %d%%",
                        self._queue.qsize(), crossing.subject, crossing.subject_id,
                        crossing.name, crossing.threshold)

    # --- the background thread -------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="budget-alerts")
        self._thread.start()

    def stop(self) -> None:
        """Stop: a try in progress may finish (briefly waited for); retries are not."""
        self._stopping.set()
        # Wake the thread; a full queue means it is busy and sees `_stopping` after the
        # crossing in hand.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._thread is not None:
            self._thread.join(STOP_WAIT_S)

    def _run(self) -> None:
        while not self._stopping.is_set():
            crossing = self._queue.get()
            if crossing is None:
                break
            try:
                self.deliver(crossing)
            except Exception:  # a bug: logged, and the next crossing is still delivered
                log.exception("budget alert %s could not be delivered", crossing)

    def deliver(self, crossing: Crossing) -> bool:
        """Record the crossing, then send it if a webhook is set; True if this server
        recorded it (False: another server or an earlier run had it, or no database)."""
        row_id = self._record(crossing)
        if row_id is None:
            return False
        log.warning("budget alert: %s %r (id %d) spent %d%% of its monthly budget",
                    crossing.subject, crossing.name, crossing.subject_id, crossing.threshold)
        url = str(self._catalog.options.get("budget_webhook_url") or "")
        if url:
            self._send(row_id, url, crossing.body())
        return True

    def _record(self, crossing: Crossing) -> int | None:
        """Insert the crossing's row: its id, or None where it is there already."""
        try:
            with self._db.connection_context():
                return BudgetAlert.create(
                    subject=crossing.subject, subject_id=crossing.subject_id,
                    month=crossing.month, threshold=crossing.threshold, tries=0).id
        except pw.IntegrityError:
            return None  # another server (or this one before a restart) had it
        except DATABASE_ERRORS as exc:
            log.warning("budget alert not recorded (%s): %s", exc, crossing)
            return None

    def _send(self, row_id: int, url: str, body: dict[str, Any]) -> None:
        """POST `body` until it is accepted, BACKOFF_S between tries, noting each try."""
        for tries, delay in enumerate((0, *BACKOFF_S), start=1):
            if delay and (self._wait(delay) or self._stopping.is_set()):
                return  # stopping: the row keeps sent_at NULL
            accepted = self._post(url, body)
            self._note(row_id, tries, accepted)
            if accepted:
                return
        log.warning("budget webhook gave up after %d tries: %s", len(BACKOFF_S) + 1, body)

    def _note(self, row_id: int, tries: int, accepted: bool) -> None:
        changes: dict[Any, Any] = {BudgetAlert.tries: tries}
        if accepted:
            changes[BudgetAlert.sent_at] = utcnow()
        try:
            with self._db.connection_context():
                BudgetAlert.update(changes).where(BudgetAlert.id == row_id).execute()
        except DATABASE_ERRORS as exc:
            log.warning("budget alert %d: its try could not be noted (%s)", row_id, exc)


def _post_json(url: str, body: dict[str, Any]) -> bool:
    """One try: True if the webhook answered 2xx."""
    try:
        answer = requests.post(url, json=body, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        log.warning("budget webhook %s: %s", url, exc)
        return False
    accepted = 200 <= answer.status_code < 300
    if not accepted:
        log.warning("budget webhook %s answered %d", url, answer.status_code)
    return accepted
