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
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee as pw

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
    # Settled requests whose rows could not be written at once: (when, requests, tokens).
    unwritten: deque[tuple[float, int, int]] = field(default_factory=deque)
    # Taken by each read and by each write-and-settle, so that neither overlaps the other:
    # a read then either saw a settled request's row or it was not yet settled.
    gate: threading.Lock = field(default_factory=threading.Lock)

    def used(self, read: _Read | None = None) -> tuple[int, int]:
        """Requests and tokens used: a fresh `read` and the rows it cannot have seen, or
        else the last read and everything settled since."""
        if read is None:
            return (self.read.requests + self.requests - self.read.requests_then,
                    self.read.tokens + self.tokens - self.read.tokens_then)
        return (read.requests + sum(r for _, r, _ in self.unwritten),
                read.tokens + sum(t for _, _, t in self.unwritten))


# (token id, month start) -> (requests, tokens) already used, from the database.
UsageLoader = Callable[[int, dt.date], tuple[int, int]]
# Writes a settled request's row to the database now; False if it could not.
RowWriter = Callable[[], bool]

# How long a row that could not be written at once counts from memory: longer than the
# batched writer, which took it, needs to write it once the database is back.
UNWRITTEN_S = 60.0


class QuotaBook:
    """Monthly request and token quotas. `reserve` before forwarding, `settle` after.

    A request is let through only if what the month used, plus what requests in flight
    hold, plus what it may use itself (`tokens`: its prompt and max_tokens) fit the
    quotas; its hold is released when it settles with the real usage. So on one server a
    quota of N requests lets exactly N through under any concurrency, and a token quota is
    passed only by what answers use beyond what they held (upstream ignoring max_tokens,
    a prompt larger than its estimate, or a request without max_tokens answering more
    than the default hold).

    With `reread` (servers sharing one database), every reservation reads the month's
    usage again, and a request that used something settles only once its row is written
    (`settle(write=...)`): what any server settled is seen by the next request anywhere.
    """

    def __init__(self, load_usage: UsageLoader, reread: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load_usage = load_usage
        self.reread = reread
        self._clock = clock
        self._months: dict[tuple[int, dt.date], _Month] = {}
        self._lock = threading.Lock()
        self._loading = threading.Lock()

    def reserve(self, token_id: int, max_requests: int | None, max_tokens: int | None,
                tokens: int = 0) -> str | None:
        """Hold one request, which may use `tokens`, against the quotas; None if held,
        else why not."""
        key = (token_id, month_start())
        month = self._month(key)
        if not self.reread:
            return self._hold(month, month.used(), max_requests, max_tokens, tokens)
        with month.gate:
            read = self._read(key, month)
            return self._hold(month, month.used(read), max_requests, max_tokens, tokens)

    def settle(self, token_id: int, succeeded: bool, tokens: int, held_tokens: int = 0,
               write: RowWriter | None = None) -> bool:
        """Turn a hold into usage (or release it, when the request failed). With `reread`,
        `write` writes the request's row first; True if it did."""
        month = self._month((token_id, month_start()))
        if not (self.reread and write is not None and (succeeded or tokens)):
            self._settle(month, succeeded, tokens, held_tokens)
            return False
        written = False
        with month.gate:
            try:
                written = write()
            finally:  # the hold is released whatever happened to the row
                self._settle(month, succeeded, tokens, held_tokens)
                if not written:
                    with self._lock:
                        month.unwritten.append((self._clock(), int(succeeded), tokens))
        return written

    def usage(self, token_id: int) -> tuple[int, int]:
        return self._month((token_id, month_start())).used()

    def _hold(self, month: _Month, used: tuple[int, int], max_requests: int | None,
              max_tokens: int | None, tokens: int) -> str | None:
        requests, used_tokens = used
        with self._lock:
            if max_requests is not None and requests + month.held >= max_requests:
                return f"monthly request quota of {max_requests} reached"
            if max_tokens is not None:
                if used_tokens >= max_tokens:
                    return f"monthly token quota of {max_tokens} reached"
                left = max(0, max_tokens - used_tokens - month.held_tokens)
                if tokens > left:
                    return (f"this request may use up to {tokens} model tokens (its prompt "
                            f"and max_tokens) but {left} of the monthly token quota of "
                            f"{max_tokens} are left; send a smaller max_tokens")
            month.held += 1
            month.held_tokens += tokens
            return None

    def _settle(self, month: _Month, succeeded: bool, tokens: int, held_tokens: int) -> None:
        with self._lock:
            month.held = max(0, month.held - 1)
            month.held_tokens = max(0, month.held_tokens - held_tokens)
            month.requests += succeeded
            month.tokens += tokens

    def _month(self, key: tuple[int, dt.date]) -> _Month:
        month = self._months.get(key)
        if month is None:
            with self._loading:  # one database read per token and month, even when racing
                month = self._months.get(key)
                if month is None:
                    requests, tokens = self._load_usage(*key)
                    month = self._months[key] = _Month(_Read(requests, tokens))
        return month

    def _read(self, key: tuple[int, dt.date], month: _Month) -> _Read | None:
        """The month's usage read again (kept as the last read), under the month's gate;
        None if the database did not answer (the last read then stands)."""
        with self._lock:
            requests_then, tokens_then = month.requests, month.tokens
            while month.unwritten and month.unwritten[0][0] < self._clock() - UNWRITTEN_S:
                month.unwritten.popleft()
        try:
            requests, tokens = self._load_usage(*key)
        except pw.PeeweeException as exc:
            log.warning("could not read token %d's monthly usage (%s)", key[0], exc)
            return None
        month.read = _Read(requests, tokens, requests_then, tokens_then)
        return month.read
