"""Per-token limits kept in memory: requests per minute (an exact sliding window) and
monthly quotas (reserved before forwarding, settled with the real usage after).

Both are per process. Several servers sharing one PostgreSQL database each enforce
their own window; quotas start from the database's monthly totals when first used.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from app.services.usage import month_start

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


@dataclass
class _Month:
    requests: int = 0  # settled successful requests this month
    tokens: int = 0  # settled model tokens this month
    reserved: int = 0  # requests let through and not yet settled


# (token id, month start) -> (requests, tokens) already used, from the database.
UsageLoader = Callable[[int, dt.date], tuple[int, int]]


class QuotaBook:
    """Monthly request and token quotas. `reserve` before forwarding, `settle` after:
    under any concurrency a quota of N requests lets exactly N through."""

    def __init__(self, load_usage: UsageLoader) -> None:
        self._load_usage = load_usage
        self._months: dict[tuple[int, dt.date], _Month] = {}
        self._lock = threading.Lock()
        self._loading = threading.Lock()

    def reserve(self, token_id: int, max_requests: int | None,
                max_tokens: int | None) -> str | None:
        """Hold one request against the quotas; None if held, else why not."""
        month = self._month(token_id)
        with self._lock:
            if max_requests is not None and month.requests + month.reserved >= max_requests:
                return f"monthly request quota of {max_requests} reached"
            if max_tokens is not None and month.tokens >= max_tokens:
                return f"monthly token quota of {max_tokens} reached"
            month.reserved += 1
            return None

    def settle(self, token_id: int, succeeded: bool, tokens: int) -> None:
        """Turn a reservation into usage (or release it, when the request failed)."""
        month = self._month(token_id)
        with self._lock:
            month.reserved = max(0, month.reserved - 1)
            if succeeded:
                month.requests += 1
            month.tokens += tokens

    def usage(self, token_id: int) -> tuple[int, int]:
        month = self._month(token_id)
        return month.requests, month.tokens

    def _month(self, token_id: int) -> _Month:
        key = (token_id, month_start())
        month = self._months.get(key)
        if month is None:
            with self._loading:  # one database read per token and month, even when racing
                month = self._months.get(key)
                if month is None:
                    requests, tokens = self._load_usage(*key)
                    month = self._months[key] = _Month(requests, tokens)
        return month
