"""Slows, then refuses, repeated failed logins — per client address and per username."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 15 * 60  # failures older than this are forgotten
SLOW_AFTER = 3  # failures before answers are delayed
LOCK_AFTER = 10  # failures before logins are refused outright
LOCK_S = 15 * 60
MAX_DELAY_S = 4.0


class LoginGuard:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._locked_until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def locked_for(self, address: str, username: str) -> float:
        """Seconds until logins from this address or for this user are allowed again (0: now)."""
        now = self._clock()
        with self._lock:
            return max([0.0] + [self._locked_until.get(k, 0.0) - now
                                for k in self._keys(address, username)])

    def failed(self, address: str, username: str) -> float:
        """Note a failed login; returns how long to hold the answer back."""
        now = self._clock()
        worst = 0
        with self._lock:
            for key in self._keys(address, username):
                failures = self._failures.setdefault(key, deque())
                while failures and failures[0] <= now - WINDOW_S:
                    failures.popleft()
                failures.append(now)
                if len(failures) >= LOCK_AFTER:
                    self._locked_until[key] = now + LOCK_S
                worst = max(worst, len(failures))
        return 0.0 if worst <= SLOW_AFTER else min(MAX_DELAY_S, 0.5 * 2 ** (worst - SLOW_AFTER))

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            for key in self._keys(address, username):
                self._failures.pop(key, None)

    @staticmethod
    def _keys(address: str, username: str) -> tuple[tuple[str, str], ...]:
        return (("address", address), ("user", username.strip().lower()))
