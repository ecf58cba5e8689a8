"""Checking presented client tokens on the hot path: bcrypt at most once per process and token.

A bcrypt check costs ~200 ms at cost 12, so results are cached by a fast hash of the
presented token; concurrent first uses of one token wait for a single check (single
flight); the check itself runs through `run_blocking` (the server passes gevent's thread
pool) so other requests go on meanwhile. The cache holds only "token -> id": whether that
token is still allowed (revoked, expired, ...) is decided from its current record.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from app.crypto import check_secret, fast_digest, token_prefix

T = TypeVar("T")
RunBlocking = Callable[..., Any]
# prefix -> (token id, bcrypt hash), or None when no token has that prefix.
Lookup = Callable[[str], "tuple[int, str] | None"]


def _run_here(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: int | None = None


class TokenVerifier:
    """Maps a presented token to its token id (or None), caching what bcrypt said."""

    def __init__(self, run_blocking: RunBlocking = _run_here, max_entries: int = 10_000) -> None:
        self._run_blocking = run_blocking
        self._max_entries = max_entries
        self._known: OrderedDict[bytes, int | None] = OrderedDict()
        self._flights: dict[bytes, _Flight] = {}
        self._lock = threading.Lock()
        self.bcrypt_checks = 0  # for tests and benchmarks

    def verify(self, presented: str, lookup: Lookup) -> int | None:
        """The id of the token `presented` is, or None when it is not a valid token."""
        prefix = token_prefix(presented)
        if prefix is None:
            return None
        digest = fast_digest(presented)
        with self._lock:
            if digest in self._known:
                self._known.move_to_end(digest)
                return self._known[digest]
            flight = self._flights.get(digest)
            leader = flight is None
            if leader:
                flight = self._flights[digest] = _Flight()
        if not leader:
            flight.done.wait()
            return flight.result
        checked = False
        try:
            flight.result = self._check(presented, prefix, lookup)
            checked = True
        finally:
            with self._lock:
                if checked:  # a failed lookup (database down) is not an answer to keep
                    self._remember(digest, flight.result)
                del self._flights[digest]
            flight.done.set()
        return flight.result

    def forget(self, token_id: int) -> None:
        """Drop cached results for a token (e.g. when it is deleted)."""
        with self._lock:
            for digest in [d for d, tid in self._known.items() if tid == token_id]:
                del self._known[digest]

    def _check(self, presented: str, prefix: str, lookup: Lookup) -> int | None:
        found = lookup(prefix)
        if found is None:
            return None
        token_id, secret_hash = found
        self.bcrypt_checks += 1
        return token_id if self._run_blocking(check_secret, presented, secret_hash) else None

    def _remember(self, digest: bytes, result: int | None) -> None:
        self._known[digest] = result
        if len(self._known) > self._max_entries:
            self._known.popitem(last=False)
