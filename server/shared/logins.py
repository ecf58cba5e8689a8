"""The admin login guard's tables in Redis, so that every worker and instance counts the same
failed logins: ten wrong passwords spread over three instances lock the address on all three.

Each key of a table is two Redis keys: a hash `{n: failures, t: time of the latest}` that
expires WINDOW_S after the latest failure (the guard forgets it then anyway), and a counter
of the attempts in flight that expires PENDING_LEASE_S after the latest began, so the
attempts of a process killed in the middle of a login stop counting soon after. Updates are
one Lua script or one MULTI each: two instances counting at once never lose a failure.

The clock is the caller's wall clock (`time.time`, one clock for all instances within what
NTP keeps them apart, far below the guard's seconds and minutes), passed into every script so
that tests can inject theirs.

When Redis cannot answer, each table goes on in this process's memory (the guard's usual
tables) and says so once in the log; it tries Redis again every RETRY_S seconds and says
when it answers again. The choice: admins must still be able to log in while Redis is down
(refusing every login would lock them out of the one tool that helps), and an attacker who
could knock Redis over gains at most the per-process limits on each instance for the
outage — slow and locked still, never unlimited guesses. What was counted in memory during
the outage is not carried back into Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

import redis

from app.throttle import IN_FLIGHT_WAIT_S, FailureTable, Policy
from server.admin_api import guard
from server.admin_api.guard import GuardTables, LoginGuard, MemoryKnownGood
from server.shared.redis_conn import REDIS_ERRORS, connect

log = logging.getLogger(__name__)
PREFIX = b"modelproxy:login:"
PENDING_LEASE_S = 30  # far above the longest login (bcrypt, a database read)
RETRY_S = 5.0  # while Redis is down, how often a login tries it again
T = TypeVar("T")

# KEYS: the failures hash, the in-flight counter. ARGV: now, forget after (s), failed (0/1),
# whether an attempt in flight ends (0/1). Returns the failures after it.
_END = """
if ARGV[4] == '1' then
  local pending = tonumber(redis.call('GET', KEYS[2]) or '0')
  if pending > 1 then redis.call('DECR', KEYS[2]) elseif pending == 1 then
    redis.call('DEL', KEYS[2]) end
end
local now, forget = tonumber(ARGV[1]), tonumber(ARGV[2])
local failures = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 't') or '0')
if failures > 0 and now - last >= forget then failures = 0 end
if ARGV[3] ~= '1' then return failures end
failures = failures + 1
redis.call('HSET', KEYS[1], 'n', failures, 't', ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(forget))
return failures
"""


class RedisLink:
    """Whether Redis answers the guard, told once in the log each way."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def call(self, shared: Callable[[], T], local: Callable[[], T]) -> T:
        """`shared()` (Redis), or `local()` (this process's memory) when Redis is down."""
        if self._down_since is not None and self._clock() < self._retry_at:
            return local()
        try:
            result = shared()
        except REDIS_ERRORS as exc:
            self._went_down(exc)
            return local()
        self._answered()
        return result

    @property
    def up(self) -> bool:
        return self._down_since is None

    def _went_down(self, exc: BaseException) -> None:
        with self._lock:
            now = self._clock()
            self._retry_at = now + RETRY_S
            if self._down_since is None:
                self._down_since = now
                log.error("Redis does not answer (%s): failed admin logins are counted by "
                          "this process alone until it does", exc)

    def _answered(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is not None:
                log.warning("Redis answers again after %.0f s: failed admin logins are "
                            "counted across instances again", self._clock() - self._down_since)
                self._down_since = None


def _key_bytes(key: Hashable) -> bytes:
    """A table's key as part of a Redis key: addresses as text, digests in hex."""
    if isinstance(key, tuple):
        return b"|".join(_key_bytes(part) for part in key)
    if isinstance(key, bytes):
        return key.hex().encode()
    return str(key).encode("utf-8", "surrogatepass")


class RedisFailures:
    """A `Failures` table (app/throttle.py) in Redis, with the same decisions as
    `FailureTable`; `fallback` answers while Redis does not."""

    def __init__(self, client: redis.Redis, name: str, policy: Policy, forget_after_s: float,
                 clock: Callable[[], float], fallback: FailureTable, link: RedisLink) -> None:
        self._client, self._policy, self._forget_after_s = client, policy, forget_after_s
        self._prefix = PREFIX + name.encode() + b":"
        self._clock, self._fallback, self._link = clock, fallback, link
        self._end = client.register_script(_END)

    def _keys(self, key: Hashable) -> list[bytes]:
        part = _key_bytes(key)
        return [self._prefix + b"f:" + part, self._prefix + b"p:" + part]

    def _read(self, key: Hashable) -> tuple[int, float, int]:
        """(failures not yet forgiven, time of the latest, attempts in flight)."""
        failures_key, pending_key = self._keys(key)
        pipe = self._client.pipeline(transaction=True)
        pipe.hmget(failures_key, "n", "t")
        pipe.get(pending_key)
        (n, t), pending = pipe.execute()
        failures, last = int(n or 0), float(t or 0.0)
        if failures and self._clock() - last >= self._forget_after_s:
            failures = 0
        return failures, last, int(pending or 0)

    def wait(self, key: Hashable) -> float:
        return self._link.call(lambda: self._wait(key), lambda: self._fallback.wait(key))

    def _wait(self, key: Hashable) -> float:
        failures, last, pending = self._read(key)
        if not failures and not pending:
            return 0.0
        left = last + self._policy(failures) - self._clock() if failures else 0.0
        if left <= 0 and pending and self._policy(failures + pending):
            left = IN_FLIGHT_WAIT_S  # the attempts in flight may yet fail: come back
        return max(0.0, left)

    def failures(self, key: Hashable) -> int:
        return self._link.call(lambda: self._read(key)[0], lambda: self._fallback.failures(key))

    def begin(self, key: Hashable) -> None:
        self._link.call(lambda: self._begin(key), lambda: self._fallback.begin(key))

    def _begin(self, key: Hashable) -> None:
        pending_key = self._keys(key)[1]
        pipe = self._client.pipeline(transaction=True)
        pipe.incr(pending_key)
        pipe.expire(pending_key, PENDING_LEASE_S)
        pipe.execute()

    def end(self, key: Hashable, failed: bool) -> None:
        self._link.call(lambda: self._run_end(key, failed, ends_attempt=True),
                        lambda: self._fallback.end(key, failed))

    def failed(self, key: Hashable) -> int:
        return self._link.call(lambda: self._run_end(key, True, ends_attempt=False),
                               lambda: self._fallback.failed(key))

    def _run_end(self, key: Hashable, failed: bool, ends_attempt: bool) -> int:
        args = [repr(self._clock()), repr(self._forget_after_s), int(failed), int(ends_attempt)]
        return int(self._end(keys=self._keys(key), args=args))

    def clear(self, key: Hashable) -> None:
        self._link.call(lambda: self._client.delete(*self._keys(key)),
                        lambda: self._fallback.clear(key))

    def __len__(self) -> int:
        """Keys held (a scan: for tests, not for the hot path)."""
        keys = self._client.scan_iter(match=self._prefix + b"*", count=1000)
        return len({k[len(self._prefix) + 2:] for k in keys})


class RedisKnownGood:
    """The (username, address) pairs that logged in, newest KNOWN_GOOD, in a sorted set."""

    def __init__(self, client: redis.Redis, clock: Callable[[], float],
                 fallback: MemoryKnownGood, link: RedisLink, limit: int = guard.KNOWN_GOOD) -> None:
        self._client, self._clock, self._fallback, self._link = client, clock, fallback, link
        self._key, self._limit = PREFIX + b"known_good", limit

    def __contains__(self, pair: object) -> bool:
        member = _key_bytes(pair)  # type: ignore[arg-type]
        return self._link.call(lambda: self._client.zscore(self._key, member) is not None,
                               lambda: pair in self._fallback)

    def add(self, pair: tuple[bytes, str]) -> None:
        self._link.call(lambda: self._add(_key_bytes(pair)), lambda: self._fallback.add(pair))

    def _add(self, member: bytes) -> None:
        pipe = self._client.pipeline(transaction=True)
        pipe.zadd(self._key, {member: self._clock()})
        pipe.zremrangebyrank(self._key, 0, -self._limit - 1)
        pipe.execute()

    def __len__(self) -> int:
        return int(self._client.zcard(self._key))


def redis_tables(client: redis.Redis, clock: Callable[[], float] = time.time,
                 max_entries: int = guard.MAX_ENTRIES) -> GuardTables:
    """The guard's tables in Redis, each with this process's memory to fall back on."""
    link = RedisLink()

    def table(name: str, policy: Policy) -> RedisFailures:
        fallback = FailureTable(policy, guard.WINDOW_S, max_entries, clock)
        return RedisFailures(client, name, policy, guard.WINDOW_S, clock, fallback, link)

    return GuardTables(table("addresses", guard.ADDRESS_POLICY),
                       table("users", guard.USER_POLICY), table("pairs", guard.PAIR_POLICY),
                       RedisKnownGood(client, clock, MemoryKnownGood(), link))


def login_guard(redis_url: str | None) -> LoginGuard:
    """The guard a server uses: in memory alone, or in Redis when `redis_url` is set."""
    if not redis_url:
        return LoginGuard()
    return LoginGuard(tables=redis_tables(connect(redis_url)))
