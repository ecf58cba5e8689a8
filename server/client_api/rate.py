"""Per-token requests per minute, kept in memory: an exact sliding window.

Per process: several servers sharing one PostgreSQL database each enforce their own window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

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
