"""Checking presented client tokens on the hot path: bcrypt at most once per process and token.

A bcrypt check costs ~250 ms at cost 12, so results are cached by a fast hash of the
presented token; concurrent first uses of one token wait for a single check (single
flight); the check itself runs through `run_blocking` (the server passes a thread pool of
bcrypt's own) so other requests go on meanwhile. The cache holds only "token -> id":
whether that token is still allowed (revoked, expired, ...) is decided from its record.

Guessing is throttled before bcrypt is spent (prefixes are public: viewers see them).
Every check that ends in a wrong secret counts against the client's address and against
the token's prefix; past a few, that address must wait (1 s, doubling up to 60 s). A
suspect address (one that failed recently or has a check under way) must also wait when
the prefix it aims at is under attack (up to 30 s) or when two suspects' checks are
already running, so a flood queues little bcrypt work ahead of a real first use. A token
already checked is answered from the cache whatever the throttle says, and an address
with no failure and no check under way is never held up by others' guesses. Refusals are
cached apart from valid tokens, in a small table, so junk never evicts a valid token.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from app.crypto import RunBlocking, check_secret, fast_digest, run_inline, token_prefix
from app.throttle import FailureTable, address_key, backoff

# prefix -> (token id, bcrypt hash), or None when no token has that prefix.
Lookup = Callable[[str], "tuple[int, str] | None"]

FORGET_AFTER_S = 10 * 60
ADDRESS_FREE, ADDRESS_MAX_WAIT_S = 3, 60.0
PREFIX_FREE, PREFIX_MAX_WAIT_S = 5, 30.0
SUSPECT_CHECKS = 2  # bcrypt checks at once for addresses that have failed
# Checks at once from an address with no recent failure before it counts as a suspect: an
# office behind one NAT address or a reverse proxy starts many new tokens at once after a
# restart, and those are no guesses. A flood from a fresh address gets this many checks
# before its failures throttle it.
CLEAN_CHECKS = 8
SUSPECT_WAIT_S = 1.0


class TooManyFailures(Exception):
    """Too many failed token checks: this one is refused before bcrypt is spent."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: int | None = None
        self.error: Exception | None = None
        self.spent = False  # whether bcrypt said it (a lookup that found nothing did not)


class TokenVerifier:
    """Maps a presented token to its token id (or None), caching what bcrypt said."""

    def __init__(self, run_blocking: RunBlocking = run_inline, max_entries: int = 10_000,
                 max_refused: int = 1_000, clock: Callable[[], float] | None = None) -> None:
        self._run_blocking = run_blocking
        self._max_entries = max_entries
        self._max_refused = max_refused
        self._known: OrderedDict[bytes, int] = OrderedDict()
        self._refused: OrderedDict[bytes, None] = OrderedDict()
        self._flights: dict[bytes, _Flight] = {}
        self._lock = threading.Lock()
        clocked = {"clock": clock} if clock else {}
        self._addresses = FailureTable(backoff(ADDRESS_FREE, 1.0, ADDRESS_MAX_WAIT_S),
                                       FORGET_AFTER_S, max_entries, **clocked)
        self._prefixes = FailureTable(backoff(PREFIX_FREE, 1.0, PREFIX_MAX_WAIT_S),
                                      FORGET_AFTER_S, max_entries, **clocked)
        self._suspect_checks = 0
        self.bcrypt_checks = 0  # for tests and benchmarks

    def verify(self, presented: str, lookup: Lookup, address: str | None = None) -> int | None:
        """The id of the token `presented` is, or None when it is not a valid token.
        Raises TooManyFailures when checking it would need bcrypt that `address` (the
        client's; None: not throttled) may not have now."""
        prefix = token_prefix(presented)
        if prefix is None:
            return None
        digest = fast_digest(presented)
        with self._lock:
            if digest in self._known:
                self._known.move_to_end(digest)
                return self._known[digest]
            if digest in self._refused:
                return None
            flight = self._flights.get(digest)
            leader = flight is None
            if leader:
                flight = self._flights[digest] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.result
        checked = False
        try:
            flight.result = self._check(presented, prefix, lookup, address, flight)
            checked = True
        except Exception as error:  # those waiting on this check get the same answer
            flight.error = error
            raise
        finally:
            with self._lock:
                if checked and flight.spent:  # what cost no bcrypt is not worth keeping
                    self._remember(digest, flight.result)
                del self._flights[digest]
            flight.done.set()
        return flight.result

    def forget(self, token_id: int) -> None:
        """Drop cached results for a token (e.g. when it is deleted)."""
        with self._lock:
            for digest in [d for d, tid in self._known.items() if tid == token_id]:
                del self._known[digest]

    def _check(self, presented: str, prefix: str, lookup: Lookup, address: str | None,
               flight: _Flight) -> int | None:
        found = lookup(prefix)
        if found is None:
            # No such prefix (yet: a token made by the CLI reaches the catalog within 2 s):
            # nothing to spend, nothing to throttle, nothing to remember.
            return None
        token_id, secret_hash = found
        flight.spent = True
        if address is None:
            return self._bcrypt(presented, token_id, secret_hash)
        where = address_key(address)
        suspect = self._admit(where, prefix)
        right = False
        try:
            right = self._bcrypt(presented, token_id, secret_hash) is not None
        finally:
            with self._lock:
                self._suspect_checks -= suspect
            self._addresses.end(where, failed=not right)
            self._prefixes.end(prefix, failed=not right)
        return token_id if right else None

    def _admit(self, where: str, prefix: str) -> bool:
        """Count a check from `where` at `prefix` as begun, or raise TooManyFailures;
        returns whether the address is a suspect: it failed recently, or has CLEAN_CHECKS
        checks under way (a few new tokens at once from one address are an office behind
        NAT, many are a flood)."""
        failures = self._addresses.failures(where)
        if not failures and self._addresses.counted(where) < CLEAN_CHECKS:
            wait, suspect = 0.0, False  # first uses of new tokens, not guesses
        else:
            wait = self._addresses.wait(where)
            suspect = True
        with self._lock:
            if not wait and suspect:
                wait = self._prefixes.wait(prefix)
                if not wait and self._suspect_checks >= SUSPECT_CHECKS:
                    wait = SUSPECT_WAIT_S
            if wait:
                raise TooManyFailures(wait)
            self._suspect_checks += suspect
        self._addresses.begin(where)
        self._prefixes.begin(prefix)
        return suspect

    def _bcrypt(self, presented: str, token_id: int, secret_hash: str) -> int | None:
        self.bcrypt_checks += 1
        return token_id if self._run_blocking(check_secret, presented, secret_hash) else None

    def _remember(self, digest: bytes, result: int | None) -> None:
        table: OrderedDict = self._known if result is not None else self._refused
        table[digest] = result
        if len(table) > (self._max_entries if result is not None else self._max_refused):
            table.popitem(last=False)
