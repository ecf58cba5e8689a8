"""Per-token limits kept in memory: requests per minute (an exact sliding window) and
monthly quotas (reserved before forwarding, settled with the real usage after).

Both are per process. Several servers sharing one PostgreSQL database each enforce their
own rate window; quotas read the database's monthly totals when first used and, on a
shared database, again before every reservation (QuotaBook).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from app.db import DATABASE_ERRORS
from app.services.usage import month_start

log = logging.getLogger(__name__)

WINDOW_S = 60.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # until the oldest request in the window leaves it


class RateLimiter:
    """At most `rpm` requests in any 60-second window (a sliding log of request times)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, token_id: int, rpm: int) -> RateDecision:
        """Count one request for the token if it fits; say whether it did."""
        now = self._clock()
        with self._lock:
            window = self._windows.setdefault(token_id, deque())
            while window and window[0] <= now - WINDOW_S:
                window.popleft()
            while len(window) > rpm:  # the limit was lowered: forget the oldest
                window.popleft()
            allowed = len(window) < rpm
            if allowed:
                window.append(now)
            reset = window[0] + WINDOW_S - now if window else 0.0
            return RateDecision(allowed, rpm, rpm - len(window), max(0.0, reset))


@dataclass(frozen=True)
class _Read:
    """A token's monthly usage read from the database's rollups."""

    requests: int  # successful requests
    tokens: int  # model tokens
    requests_then: int = 0  # what this process had settled by then (`_Month.requests`)
    tokens_then: int = 0


@dataclass
class _Month:
    """One token's month as this process knows it: the last read of the database, what
    this process settled, and what requests in flight hold."""

    read: _Read
    requests: int = 0  # successful requests this process settled, ever
    tokens: int = 0  # model tokens this process settled, ever
    held: int = 0  # requests let through and not yet settled
    held_tokens: int = 0  # the model tokens those may use
    shortened: int = 0  # those whose hold is shortened (Hold.shortened): 0 or 1
    # Settled requests whose rows are not in the rollups yet (not written at once; the log
    # writer has them), by row: (requests, tokens). Dropped when the writer reports them.
    unwritten: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Taken by each read and by each write-and-settle, so that neither overlaps the other:
    # a read then either saw a settled request's row or it was not yet settled.
    gate: threading.Lock = field(default_factory=threading.Lock)

    def used(self, read: _Read | None = None) -> tuple[int, int]:
        """Requests and tokens used: a fresh `read` and the rows it cannot have seen, or
        else the last read and everything settled since."""
        if read is None:
            return (self.read.requests + self.requests - self.read.requests_then,
                    self.read.tokens + self.tokens - self.read.tokens_then)
        return (read.requests + sum(r for r, _ in self.unwritten.values()),
                read.tokens + sum(t for _, t in self.unwritten.values()))


# (token id, month start) -> (requests, tokens) already used, from the database.
UsageLoader = Callable[[int, dt.date], tuple[int, int]]
# Writes a settled request's row to the database now; False if it could not.
RowWriter = Callable[[], bool]

# After the database failed a quota read or a row write, how long this process decides
# from memory (the last read and what it settled since) without asking it again: a busy
# database must not make each request of a token wait its turn for a connection in vain.
AWAY_S = 1.0


class Hold(NamedTuple):
    """What `reserve` held for a request."""

    tokens: int  # model tokens
    # Less than the request asked for (it named no max_tokens): what was left of the quota.
    # One such hold per token at a time, so they pass the quota by one answer at most.
    shortened: bool = False
    # The month it is held in (token id, month start): a request that ends in the next
    # month settles in the one it was let through in (and its row is dated then).
    month: tuple[int, dt.date] | None = None


NO_HOLD = Hold(0)


class QuotaRefused(Exception):
    """The request does not fit what is left of its token's quota (429)."""


class QuotaUnknown(Exception):
    """The month's usage could not be read, so no decision can be made (503)."""


class QuotaBook:
    """Monthly request and token quotas. `reserve` before forwarding, `settle` after.

    A request is let through only if what the month used, plus what requests in flight
    hold, plus what it may use itself (`tokens`: its prompt and max_tokens) fit the
    quotas; its hold is released when it settles with the real usage. So on one server a
    quota of N requests lets exactly N through under any concurrency, and a token quota is
    passed only by what answers use beyond what they held (upstream ignoring max_tokens,
    a prompt larger than its estimate, or a request without max_tokens answering more
    than its hold). A request without max_tokens may hold less than its default (down to
    `least`: its prompt and one token) where less is left, so a small quota still serves
    request after request.

    With `reread` (servers sharing one database), every reservation reads the month's
    usage again, and a request that used something settles only once its row is written
    (`settle(write=...)`): what any server settled is seen by the next request anywhere.
    A row that could not be written at once counts from memory until the log writer says
    it is in (`written`).
    """

    def __init__(self, load_usage: UsageLoader, reread: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load_usage = load_usage
        self.reread = reread
        self._clock = clock
        self._months: dict[tuple[int, dt.date], _Month] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[int, dt.date], threading.Lock] = {}
        # Rows settled but not yet written, by id: (the row, its month). Holding the row
        # keeps its id from being reused while the entry lives.
        self._unwritten: dict[int, tuple[object, _Month]] = {}
        self._away_until = 0.0  # while the database is taken for away (AWAY_S)

    def reserve(self, token_id: int, max_requests: int | None, max_tokens: int | None,
                tokens: int = 0, least: int | None = None) -> Hold:
        """Hold one request, which may use `tokens` (or, where less is left, as few as
        `least`), against the quotas. Raises QuotaRefused, or QuotaUnknown when the
        month's usage cannot be read."""
        key = (token_id, month_start())
        month = self._month(key)
        if not self.reread:
            held = self._hold(month, month.used(), max_requests, max_tokens, tokens, least)
        else:
            with month.gate:
                read = self._read(key, month)
                held = self._hold(month, month.used(read), max_requests, max_tokens, tokens,
                                  least)
        return held._replace(month=key)

    def settle(self, token_id: int, succeeded: bool, tokens: int, held: Hold = NO_HOLD,
               write: RowWriter | None = None, row: object | None = None) -> bool:
        """Turn a hold into usage (or release it, when the request failed). With `reread`,
        `write` writes the request's `row` first; True if it did. If it did not, the row
        counts from memory until `written` reports it."""
        month = self._month(held.month or (token_id, month_start()))
        if not (self.reread and write is not None and (succeeded or tokens)):
            self._settle(month, succeeded, tokens, held)
            return False
        written = False
        with month.gate:
            attempted = not self._away()  # else the batched writer takes it at once
            try:
                written = attempted and write()
            finally:  # the hold is released whatever happened to the row
                self._settle(month, succeeded, tokens, held)
                if not written:
                    if attempted:
                        self._taken_away("a request's row was not written at once")
                    self._count_unwritten(month, object() if row is None else row,
                                          int(succeeded), tokens)
        return written

    def written(self, rows: Iterable[object]) -> None:
        """The log writer committed `rows`: those this book counted from memory are now
        in the rollups that the next read sees."""
        if not self._unwritten:  # the common case: every row was written at once
            return
        with self._lock:
            for row in rows:
                entry = self._unwritten.pop(id(row), None)
                if entry is not None:
                    entry[1].unwritten.pop(id(row), None)

    def usage(self, token_id: int) -> tuple[int, int]:
        return self._month((token_id, month_start())).used()

    def _hold(self, month: _Month, used: tuple[int, int], max_requests: int | None,
              max_tokens: int | None, tokens: int, least: int | None) -> Hold:
        requests, used_tokens = used
        shortened = False
        with self._lock:
            if max_requests is not None and requests + month.held >= max_requests:
                raise QuotaRefused(f"monthly request quota of {max_requests} reached")
            if max_tokens is not None:
                if used_tokens >= max_tokens:
                    raise QuotaRefused(f"monthly token quota of {max_tokens} reached")
                left = max(0, max_tokens - used_tokens - month.held_tokens)
                if tokens > left:
                    flexible = least is not None and least < tokens  # no max_tokens given
                    if not (flexible and least <= left and not month.shortened):
                        raise QuotaRefused(_too_much(tokens, left, max_tokens,
                                                     least if flexible else None))
                    tokens, shortened = left, True  # what is left of the quota
            month.held += 1
            month.held_tokens += tokens
            month.shortened += shortened
            return Hold(tokens, shortened)

    def _settle(self, month: _Month, succeeded: bool, tokens: int, held: Hold) -> None:
        with self._lock:
            month.held = max(0, month.held - 1)
            month.held_tokens = max(0, month.held_tokens - held.tokens)
            month.shortened = max(0, month.shortened - held.shortened)
            month.requests += succeeded
            month.tokens += tokens

    def _count_unwritten(self, month: _Month, row: object, requests: int,
                         tokens: int) -> None:
        with self._lock:
            month.unwritten[id(row)] = (requests, tokens)
            self._unwritten[id(row)] = (row, month)

    def _month(self, key: tuple[int, dt.date]) -> _Month:
        month = self._months.get(key)
        if month is not None:
            return month
        with self._lock:  # one database read per token and month, even when racing
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            month = self._months.get(key)
            if month is None:
                try:
                    requests, tokens = self._load_usage(*key)
                except DATABASE_ERRORS as exc:
                    self._taken_away(f"could not read a token's monthly usage ({exc})")
                    raise QuotaUnknown("this token's monthly usage could not be read (the "
                                       "database is busy or away); retry shortly") from exc
                month = self._months[key] = _Month(_Read(requests, tokens))
                with self._lock:
                    self._loading.pop(key, None)
        return month

    def _read(self, key: tuple[int, dt.date], month: _Month) -> _Read | None:
        """The month's usage read again (kept as the last read), under the month's gate;
        None if the database did not answer (the last read, and what this process settled
        since, then stand)."""
        if self._away():
            return None
        with self._lock:
            requests_then, tokens_then = month.requests, month.tokens
        try:
            requests, tokens = self._load_usage(*key)
        except DATABASE_ERRORS as exc:
            self._taken_away(f"could not read a token's monthly usage ({exc})")
            return None
        month.read = _Read(requests, tokens, requests_then, tokens_then)
        return month.read

    def _away(self) -> bool:
        return self._clock() < self._away_until

    def _taken_away(self, why: str) -> None:
        """Decide from memory for AWAY_S; said once, not by each request (a log flood)."""
        now = self._clock()
        if now >= self._away_until:
            log.warning("%s; quotas are decided from memory for %.0f s", why, AWAY_S)
        self._away_until = max(self._away_until, now + AWAY_S)


def _too_much(tokens: int, left: int, max_tokens: int, least: int | None) -> str:
    """Why a hold of `tokens` (or, without max_tokens, at least `least`) does not fit."""
    if least is not None:
        return (f"this request needs at least {least} model tokens (its prompt and one "
                f"more) but {left} of the monthly token quota of {max_tokens} are left")
    return (f"this request may use up to {tokens} model tokens (its prompt and max_tokens) "
            f"but {left} of the monthly token quota of {max_tokens} are left; send a "
            f"smaller max_tokens")
