"""Counting failed attempts per key (an address, a user, a token prefix) to throttle guessing.

A `FailureTable` answers "how long must an attempt under this key wait?" from the failures
it saw under that key. It is bounded: at most `max_entries` keys, each a few numbers, and a
key with no failure for `forget_after_s` is empty again. When it is full, a key that holds
nothing up goes before one that does, and one with fewer failures before one with more
(least recently touched first among equals): otherwise an attacker cycling through many
keys (an IPv6 /48 is 65,536 /64s) would push its own lock out of the table. Attempts in
flight count as failures until they end, so a burst of concurrent guesses cannot all slip
in before the first one fails. Keys are whatever the caller passes; callers pass short ones
(addresses, digests), never a string a client chose whole. The clock is passed in, so the
table is tested without waiting.

`Failures` is what a caller needs of such a table; `FailureTable` keeps it in this process's
memory, server/shared/logins.py in Redis (shared by every worker and instance).
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Protocol

Policy = Callable[[int], float]  # failures so far -> seconds the next attempt must wait
IN_FLIGHT_WAIT_S = 1.0
EVICTION_SCAN = 8  # keys looked at, least recently touched first, to choose one to drop


def backoff(free: int, first_s: float, max_s: float) -> Policy:
    """No wait before `free` failures; from then on `first_s` after the latest failure,
    doubling with each further one up to `max_s`."""
    def wait(failures: int) -> float:
        return 0.0 if failures < free else min(max_s, first_s * 2 ** (failures - free))
    return wait


def lock_after(free: int, lock_s: float) -> Policy:
    """No wait before `free` failures; from then on `lock_s` after the latest failure."""
    return lambda failures: 0.0 if failures < free else lock_s


class Failures(Protocol):
    """Failures counted per key, and the attempts in flight (which count until they end)."""

    def wait(self, key: Hashable) -> float: ...
    def failures(self, key: Hashable) -> int: ...
    def begin(self, key: Hashable) -> None: ...
    def end(self, key: Hashable, failed: bool) -> None: ...
    def failed(self, key: Hashable) -> int: ...
    def clear(self, key: Hashable) -> None: ...
    def __len__(self) -> int: ...


class _Entry:
    __slots__ = ("failures", "last_failure", "pending")

    def __init__(self) -> None:
        self.failures = 0
        self.last_failure = 0.0
        self.pending = 0


class FailureTable:
    def __init__(self, policy: Policy, forget_after_s: float, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._forget_after_s = forget_after_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: Hashable) -> float:
        """Seconds until an attempt under `key` may be made (0: now)."""
        now = self._clock()
        with self._lock:
            entry = self._current(key, now)
            if entry is None:
                return 0.0
            left = entry.last_failure + self._policy(entry.failures) - now
            if left <= 0 and entry.pending and self._policy(entry.failures + entry.pending):
                left = IN_FLIGHT_WAIT_S  # the attempts in flight may yet fail: come back
            return max(0.0, left)

    def failures(self, key: Hashable) -> int:
        """Recent failures under `key`."""
        with self._lock:
            entry = self._current(key, self._clock())
            return entry.failures if entry else 0

    def counted(self, key: Hashable) -> int:
        """Recent failures under `key` plus the attempts in flight."""
        with self._lock:
            entry = self._current(key, self._clock())
            return entry.failures + entry.pending if entry else 0

    def begin(self, key: Hashable) -> None:
        """An attempt under `key` starts; it counts as a failure until `end`."""
        with self._lock:
            self._touch(key).pending += 1

    def end(self, key: Hashable, failed: bool) -> None:
        """The attempt `begin` announced is over."""
        now = self._clock()
        with self._lock:
            entry = self._current(key, now) or self._touch(key)
            entry.pending = max(0, entry.pending - 1)
            if failed:
                entry.failures += 1
                entry.last_failure = now
            elif not entry.failures and not entry.pending:
                del self._entries[key]

    def failed(self, key: Hashable) -> int:
        """Note a failure under `key` (no `begin` before it); returns the recent failures."""
        self.begin(key)
        self.end(key, failed=True)
        return self.failures(key)

    def clear(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def _current(self, key: Hashable, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.failures and now - entry.last_failure >= self._forget_after_s:
            entry.failures = 0  # forgiven: long enough without a failure
        if not entry.failures and not entry.pending:
            del self._entries[key]
            return None
        return entry

    def _touch(self, key: Hashable) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self._max_entries:
                self._evict_one(self._clock())
            entry = self._entries[key] = _Entry()
        else:
            self._entries.move_to_end(key)
        return entry

    def _evict_one(self, now: float) -> None:
        """Drop the least worth keeping of the least recently touched keys. Those passed
        over on the way (worth more) move to the young end, so the next look finds the
        keys that hold nothing up: a few scans move every lock out of the way."""
        oldest = list(itertools.islice(self._entries.items(), EVICTION_SCAN))
        worth = [self._worth(entry, now) for _, entry in oldest]
        victim = worth.index(min(worth))
        for key, _ in oldest[:victim]:
            self._entries.move_to_end(key)
        del self._entries[oldest[victim][0]]

    def _worth(self, entry: _Entry, now: float) -> tuple[bool, int]:
        """(whether it holds attempts up now, its failures not yet forgiven)."""
        failures = entry.failures if now - entry.last_failure < self._forget_after_s else 0
        waiting = bool(failures) and entry.last_failure + self._policy(failures) > now
        return (waiting or entry.pending > 0, failures)


def address_key(address: str) -> str:
    """The unit an address is throttled by: itself, or its /64 for IPv6 (one host commonly
    holds a whole /64, so counting single IPv6 addresses would let it start afresh at will)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
