"""Slows, then refuses, repeated failed logins: hard per client address, soft per username.

- Per address: 3 failures are answered at once, then held back 1 s, 2 s, then 4 s;
  the 10th failure within 15 minutes locks that address out (429) for 15 minutes.
- Per username: after 10 failures for one username from anywhere, attempts for it wait a
  backoff (1 s, doubling up to 60 s) — but only from addresses that failed for it and
  never logged in as it. An address with no recent failure for the admin, or one it
  logged in from, is never held back by it: an attacker elsewhere cannot lock the real
  admin out (issue 11, item 9), while guessing from a few addresses stays slow. Names
  that are no admin's are counted alike, so the guard's answers do not tell which exist.

Memory is bounded whatever clients send: at most MAX_ENTRIES keys per table, each a few
numbers; usernames are kept only as 16-byte digests.

The guard's state is in `GuardTables`: this process's memory by default, Redis when the
server is one of several (server/shared/logins.py), so that failures counted by one
instance slow and lock logins on all of them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from app.throttle import Failures, FailureTable, Policy, address_key, backoff, lock_after

WINDOW_S = 15 * 60  # failures are forgotten this long after the last one
SLOW_AFTER = 3  # failures from an address before its answers are held back
LOCK_AFTER = 10  # failures from an address before it is refused outright
LOCK_S = 15 * 60
MAX_DELAY_S = 4.0
USER_SOFT_AFTER = 10  # failures for one username before suspect addresses must wait
USER_MAX_WAIT_S = 60.0
MAX_ENTRIES = 10_000
KNOWN_GOOD = 4_096  # (username, address) pairs remembered as having logged in

ADDRESS_POLICY: Policy = lock_after(LOCK_AFTER, LOCK_S)
USER_POLICY: Policy = backoff(USER_SOFT_AFTER, 1.0, USER_MAX_WAIT_S)


def never_wait(_failures: int) -> float:
    """(username, address) pairs that failed are only counted: they say who is suspect."""
    return 0.0


PAIR_POLICY: Policy = never_wait


def user_key(username: str) -> bytes:
    """What the guard keeps of a username: a digest of its normalised form."""
    normal = username.strip().lower()[:256].encode("utf-8", "surrogatepass")
    return hashlib.blake2b(normal, digest_size=16).digest()


class LoginAttempt:
    """One login under way; say how it ended with `failed` or `succeeded`."""

    def __init__(self, guard: LoginGuard, address: str, user: bytes, wait: float) -> None:
        self.wait = wait  # > 0: refused; try again in this many seconds
        self._guard, self._address, self._user = guard, address, user
        self.ended = wait > 0

    def failed(self) -> float:
        """Note the failure; returns how long to hold the answer back."""
        self.ended = True
        return self._guard._failed(self._address, self._user)

    def succeeded(self) -> None:
        self.ended = True
        self._guard._succeeded(self._address, self._user)


class KnownGood(Protocol):
    """(username digest, address) pairs that logged in, the newest KNOWN_GOOD of them."""

    def __contains__(self, pair: object) -> bool: ...
    def add(self, pair: tuple[bytes, str]) -> None: ...
    def __len__(self) -> int: ...


class MemoryKnownGood:
    def __init__(self, limit: int = KNOWN_GOOD) -> None:
        self._pairs: OrderedDict[tuple[bytes, str], None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def __contains__(self, pair: object) -> bool:
        with self._lock:
            return pair in self._pairs

    def add(self, pair: tuple[bytes, str]) -> None:
        with self._lock:
            self._pairs[pair] = None
            self._pairs.move_to_end(pair)
            while len(self._pairs) > self._limit:
                self._pairs.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pairs)


@dataclass(frozen=True)
class GuardTables:
    """Where the guard keeps what it counts."""

    addresses: Failures  # keyed by address_key()
    users: Failures  # keyed by user_key()
    pairs: Failures  # keyed by (user_key(), address_key())
    known_good: KnownGood


def memory_tables(clock: Callable[[], float] = time.monotonic,
                  max_entries: int = MAX_ENTRIES) -> GuardTables:
    """The tables of one process, in its memory."""
    return GuardTables(FailureTable(ADDRESS_POLICY, WINDOW_S, max_entries, clock),
                       FailureTable(USER_POLICY, WINDOW_S, max_entries, clock),
                       FailureTable(PAIR_POLICY, WINDOW_S, max_entries, clock),
                       MemoryKnownGood())


class LoginGuard:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_ENTRIES, tables: GuardTables | None = None) -> None:
        tables = tables or memory_tables(clock, max_entries)
        self._addresses, self._users = tables.addresses, tables.users
        self._pairs, self._known_good = tables.pairs, tables.known_good

    @contextmanager
    def attempt(self, address: str, username: str) -> Iterator[LoginAttempt]:
        """A login from `address` as `username`: refused when `.wait` > 0, else counted
        as a failure while it runs (so concurrent guesses cannot all slip in at once)."""
        address, user = address_key(address), user_key(username)
        wait = self._addresses.wait(address)
        if not wait and self._suspect(user, address):
            wait = self._users.wait(user)
        attempt = LoginAttempt(self, address, user, wait)
        if wait:
            yield attempt
            return
        self._addresses.begin(address)
        self._users.begin(user)
        try:
            yield attempt
        finally:
            if not attempt.ended:  # the check itself broke (database down): no verdict
                self._addresses.end(address, failed=False)
                self._users.end(user, failed=False)

    def _suspect(self, user: bytes, address: str) -> bool:
        """Whether the per-username backoff applies to logins for `user` from `address`."""
        if (user, address) in self._known_good:
            return False
        return self._pairs.failures((user, address)) > 0

    def _failed(self, address: str, user: bytes) -> float:
        self._addresses.end(address, failed=True)
        self._users.end(user, failed=True)
        self._pairs.failed((user, address))
        worst = self._addresses.failures(address)
        return 0.0 if worst <= SLOW_AFTER else min(MAX_DELAY_S, 0.5 * 2 ** (worst - SLOW_AFTER))

    def _succeeded(self, address: str, user: bytes) -> None:
        self._addresses.end(address, failed=False)
        self._users.end(user, failed=False)
        self._addresses.clear(address)
        self._pairs.clear((user, address))
        self._known_good.add((user, address))

    def sizes(self) -> dict[str, int]:
        """How many keys each table holds (for tests and benchmarks)."""
        return {"addresses": len(self._addresses), "users": len(self._users),
                "pairs": len(self._pairs), "known_good": len(self._known_good)}
