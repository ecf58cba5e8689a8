"""Monthly quotas and budgets kept in memory, reserved before forwarding and settled with
the real usage after (QuotaBook); the per-minute rate limit is in rate.py.

Per process: quotas read the database's monthly totals when first used and, on a shared
database, again before every reservation.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from app.db import DATABASE_ERRORS
from app.services.usage import month_start
from server.client_api import quota_terms as terms
from server.client_api.quota_terms import Ask, Hold, Key, Limits, QuotaRefused, QuotaUnknown

Used, Spend = terms.Used, terms.Spend  # shorter, for the book's many uses

__all__ = ["AWAY_S", "Ask", "Hold", "Limits", "QuotaBook", "QuotaRefused", "QuotaUnknown",
           "Spend", "Used"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Read:
    """A subject's monthly usage read from the database's rollups."""

    used: Used
    then: Used = terms.NOTHING  # what this process had settled by then (`_Month.settled`)


@dataclass
class _Month:
    """One subject's month as this process knows it: the last read of the database, what
    this process settled, and what requests in flight hold."""

    read: _Read
    settled: Used = terms.NOTHING  # what this process settled, ever
    held: int = 0  # requests let through and not yet settled
    held_tokens: int = 0  # the model tokens those may use
    held_nanos: int = 0  # the money those may cost
    shortened: int = 0  # those whose token hold is shortened (Hold.shortened): 0 or 1
    shortened_nanos: int = 0  # those whose money hold is shortened: 0 or 1
    # Settled requests whose rows are not in the rollups yet (not written at once; the log
    # writer has them), by row. Dropped when the writer reports them.
    unwritten: dict[int, Used] = field(default_factory=dict)
    # Taken by each read and by each write-and-settle, so that neither overlaps the other:
    # a read then either saw a settled request's row or it was not yet settled.
    gate: threading.Lock = field(default_factory=threading.Lock)

    def used(self, read: _Read | None = None) -> Used:
        """What the month used: a fresh `read` and the rows it cannot have seen, or else
        the last read and everything settled since."""
        if read is None:
            return self.read.used.plus(self.settled).minus(self.read.then)
        total = read.used
        for row in self.unwritten.values():
            total = total.plus(row)
        return total


# (subject id, month start) -> what it used already, from the database: (requests,
# tokens) or (requests, tokens, nanos).
UsageLoader = Callable[[int, dt.date], tuple[int, ...]]
# Writes a settled request's row to the database now; False if it could not.
RowWriter = Callable[[], bool]

# After the database failed a quota read or a row write, how long this process decides
# from memory (the last read and what it settled since) without asking it again: a busy
# database must not make each request of a token wait its turn for a connection in vain.
AWAY_S = 1.0


class QuotaBook:
    """Monthly request, token and money limits of tokens and endpoints (subjects).
    `reserve` before forwarding, `settle` after.

    A request is let through only if what the month used, plus what requests in flight
    hold, plus what it may use itself (its prompt and max_tokens; their cost at the
    highest price it may be answered at) fit the limits; its hold is released when it
    settles with the real usage. So on one server a quota of N requests lets exactly N
    through under any concurrency, and a token quota or a budget is passed only by what
    answers use beyond what they held (upstream ignoring max_tokens, a prompt larger than
    its estimate, or a request without max_tokens answering more than its hold). A request
    without max_tokens may hold less than its default (down to `least`: its prompt and one
    token) where less is left, so a small quota still serves request after request.

    With `reread` (servers sharing one database), every reservation reads the month's
    usage again, and a request that used something settles only once its row is written
    (`settle(write=...)`): what any server settled is seen by the next request anywhere.
    A row that could not be written at once counts from memory until the log writer says
    it is in (`written`).
    """

    def __init__(self, load_usage: UsageLoader, reread: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 endpoint_usage: UsageLoader | None = None) -> None:
        self._loaders = {terms.TOKEN: load_usage, terms.ENDPOINT: endpoint_usage}
        self.reread = reread
        self._clock = clock
        self._months: dict[Key, _Month] = {}
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}
        # Rows settled but not yet written, by id: (the row, its months). Holding the row
        # keeps its id from being reused while the entry lives.
        self._unwritten: dict[int, tuple[object, list[_Month]]] = {}
        self._away_until = 0.0  # while the database is taken for away (AWAY_S)

    # --- a token's quotas (the form the request-and-token quotas always had) -------------

    def reserve(self, token_id: int, max_requests: int | None, max_tokens: int | None,
                tokens: int = 0, least: int | None = None) -> Hold:
        """Hold one request of a token, which may use `tokens` (or, where less is left, as
        few as `least`), against its quotas."""
        return self.hold(terms.TOKEN, token_id, Limits(max_requests, max_tokens),
                         Ask(tokens, least))

    def settle(self, token_id: int, succeeded: bool, tokens: int, held: Hold = terms.NO_HOLD,
               write: RowWriter | None = None, row: object | None = None) -> bool:
        """`settle_holds` for one token's hold; True if the row was written."""
        month = held.month or (terms.TOKEN, token_id, month_start())
        return self.settle_holds([held._replace(month=month)], succeeded, Used(0, tokens),
                                 write, row)[0]

    def usage(self, token_id: int) -> tuple[int, int]:
        return self.usage_of(terms.TOKEN, token_id)[:2]

    # --- any subject -------------------------------------------------------------------

    def hold(self, subject: str, subject_id: int, limits: Limits, ask: Ask) -> Hold:
        """Hold one request against a subject's limits. Raises QuotaRefused, or
        QuotaUnknown when the month's usage cannot be read."""
        key = (subject, subject_id, month_start())
        month = self._month(key)
        if not self.reread:
            held = self._hold(key, month, month.used(), limits, ask)
        else:
            with month.gate:
                held = self._hold(key, month, month.used(self._read(key, month)), limits, ask)
        return held._replace(month=key)

    def release(self, holds: Iterable[Hold]) -> None:
        """Give holds back unused (a request refused after some of its holds were made)."""
        for held in holds:
            if held.month is not None:
                self._settle(self._months[held.month], False, Used(), held)

    def settle_holds(self, holds: Sequence[Hold], succeeded: bool, used: Used,
                     write: RowWriter | None = None,
                     row: object | None = None) -> tuple[bool, list[Spend]]:
        """Turn a request's holds (one per subject, each with its month) into usage, or
        release them when it failed; `used` is its tokens and real cost (its requests
        count is taken from `succeeded`). With `reread`, `write` writes the request's
        `row` first, under every month's gate; the bool says whether it did. If it did
        not, the row counts from memory until `written` reports it. The spends say what
        each month had spent before and after."""
        used = used._replace(requests=int(succeeded))
        months = [(held, self._month(held.month)) for held in holds if held.month]
        if not (self.reread and write is not None and (succeeded or used.tokens
                                                       or used.nanos)):
            return False, [self._settle(m, succeeded, used, h) for h, m in months]
        written, spends = False, []
        with ExitStack() as gates:
            for _, month in sorted(months, key=lambda hm: hm[0].month):  # one lock order
                gates.enter_context(month.gate)
            attempted = not self._away()  # else the batched writer takes it at once
            try:
                written = attempted and write()
            finally:  # the holds are released whatever happened to the row
                spends = [self._settle(m, succeeded, used, h) for h, m in months]
                if not written:
                    if attempted:
                        self._taken_away("a request's row was not written at once")
                    self._count_unwritten([m for _, m in months],
                                          object() if row is None else row, used)
        return written, spends

    def written(self, rows: Iterable[object]) -> None:
        """The log writer committed `rows`: those this book counted from memory are now
        in the rollups that the next read sees."""
        if not self._unwritten:  # the common case: every row was written at once
            return
        with self._lock:
            for row in rows:
                entry = self._unwritten.pop(id(row), None)
                for month in entry[1] if entry else ():
                    month.unwritten.pop(id(row), None)

    def usage_of(self, subject: str, subject_id: int) -> Used:
        return self._month((subject, subject_id, month_start())).used()

    # --- the months ----------------------------------------------------------------------

    def _hold(self, key: Key, month: _Month, used: Used, limits: Limits, ask: Ask) -> Hold:
        subject, subject_id = key[0], key[1]

        def refuse(message: str, limit: str) -> QuotaRefused:
            return QuotaRefused(message, subject, subject_id, limit)

        tokens, nanos, shortened, nanos_shortened = ask.tokens, ask.nanos, False, False
        with self._lock:  # everything is checked before anything is held
            if limits.requests is not None and used.requests + month.held >= limits.requests:
                raise refuse(f"monthly request quota of {limits.requests} reached", "requests")
            if limits.tokens is not None:
                if used.tokens >= limits.tokens:
                    raise refuse(f"monthly token quota of {limits.tokens} reached", "tokens")
                try:
                    tokens, shortened = terms.fit(ask.tokens, ask.least, used.tokens,
                                            month.held_tokens, limits.tokens,
                                            bool(month.shortened))
                except terms.NoRoom as no:
                    raise refuse(terms.too_many_tokens(ask.tokens, no.left, limits.tokens,
                                                 no.least), "tokens") from None
            if limits.nanos is not None:
                if used.nanos >= limits.nanos:
                    raise refuse(f"monthly budget of {terms.usd(limits.nanos)} reached",
                                 "money")
                try:
                    nanos, nanos_shortened = terms.fit(
                        ask.nanos, ask.least_nanos, used.nanos, month.held_nanos,
                        limits.nanos, bool(month.shortened_nanos))
                except terms.NoRoom as no:
                    raise refuse(terms.too_costly(ask.nanos, no.left, limits.nanos, no.least),
                                 "money") from None
            else:
                nanos = 0  # no budget: nothing to hold the cost against
            month.held += 1
            month.held_tokens += tokens
            month.held_nanos += nanos
            month.shortened += shortened
            month.shortened_nanos += nanos_shortened
            return Hold(tokens, shortened, nanos=nanos, nanos_shortened=nanos_shortened)

    def _settle(self, month: _Month, succeeded: bool, used: Used, held: Hold) -> Spend:
        with self._lock:
            before = month.used().nanos
            month.held = max(0, month.held - 1)
            month.held_tokens = max(0, month.held_tokens - held.tokens)
            month.held_nanos = max(0, month.held_nanos - held.nanos)
            month.shortened = max(0, month.shortened - held.shortened)
            month.shortened_nanos = max(0, month.shortened_nanos - held.nanos_shortened)
            month.settled = month.settled.plus(used._replace(requests=int(succeeded)))
            return Spend(held.month, before, before + used.nanos)  # type: ignore[arg-type]

    def _count_unwritten(self, months: list[_Month], row: object, used: Used) -> None:
        with self._lock:
            for month in months:
                month.unwritten[id(row)] = used
            self._unwritten[id(row)] = (row, months)

    def _month(self, key: Key) -> _Month:
        month = self._months.get(key)
        if month is not None:
            return month
        with self._lock:  # one database read per subject and month, even when racing
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            month = self._months.get(key)
            if month is None:
                try:
                    used = self._load(key)
                except DATABASE_ERRORS as exc:
                    self._taken_away(f"could not read a {key[0]}'s monthly usage ({exc})")
                    raise QuotaUnknown(f"this {key[0]}'s monthly usage could not be read "
                                       "(the database is busy or away); retry shortly") \
                        from exc
                month = self._months[key] = _Month(_Read(used))
                with self._lock:
                    self._loading.pop(key, None)
        return month

    def _load(self, key: Key) -> Used:
        loader = self._loaders[key[0]]
        if loader is None:
            raise ValueError(f"this book was given no loader for {key[0]} usage")
        return Used(*loader(key[1], key[2]))

    def _read(self, key: Key, month: _Month) -> _Read | None:
        """The month's usage read again (kept as the last read), under the month's gate;
        None if the database did not answer (the last read, and what this process settled
        since, then stand)."""
        if self._away():
            return None
        with self._lock:
            then = month.settled
        try:
            used = self._load(key)
        except DATABASE_ERRORS as exc:
            self._taken_away(f"could not read a {key[0]}'s monthly usage ({exc})")
            return None
        month.read = _Read(used, then)
        return month.read

    def _away(self) -> bool:
        return self._clock() < self._away_until

    def _taken_away(self, why: str) -> None:
        """Decide from memory for AWAY_S; said once, not by each request (a log flood)."""
        now = self._clock()
        if now >= self._away_until:
            log.warning("%s; quotas are decided from memory for %.0f s", why, AWAY_S)
        self._away_until = max(self._away_until, now + AWAY_S)
