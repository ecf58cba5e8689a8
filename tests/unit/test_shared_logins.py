"""The login guard in Redis (server/shared/logins.py): what one guard counts, another on the
same Redis sees; with Redis down, each goes on in its own memory and says so once; back up,
they share again. The redis-server is the test's own."""

from __future__ import annotations

import logging

import pytest

from server.admin_api.guard import LOCK_S, LoginGuard
from server.shared import logins
from server.shared.logins import redis_tables
from server.shared.redis_conn import connect
from tests.unit.test_login_guard import Clock, fail, succeed


def two_guards(url: str, clock: Clock) -> tuple[LoginGuard, LoginGuard]:
    """Two instances' guards: each its own client, one Redis."""
    return (LoginGuard(tables=redis_tables(connect(url), clock)),
            LoginGuard(tables=redis_tables(connect(url), clock)))


def test_failures_on_one_instance_lock_the_address_on_the_other(redis_server) -> None:
    a, b = two_guards(redis_server.url, Clock())
    holds = [fail(a if n % 2 else b, "10.66.0.1", "admin") for n in range(10)]
    assert holds == [0, 0, 0, 1, 2, 4, 4, 4, 4, 4], "one count across both"
    assert fail(a, "10.66.0.1", "admin") == -LOCK_S
    assert succeed(b, "10.66.0.1", "viewer") == LOCK_S, "locked on the other one too"
    assert succeed(b, "10.1.0.1", "admin") == 0, "the admin elsewhere logs in"


def test_a_login_on_one_instance_clears_the_address_on_the_other(redis_server) -> None:
    a, b = two_guards(redis_server.url, Clock())
    for _ in range(5):
        fail(a, "10.1.0.1", "admin")
    assert succeed(b, "10.1.0.1", "admin") == 0
    assert fail(a, "10.1.0.1", "admin") == 0, "counting starts afresh on both"


def test_failures_are_forgotten_after_the_window(redis_server) -> None:
    clock = Clock()
    a, b = two_guards(redis_server.url, clock)
    for _ in range(10):
        fail(a, "10.66.0.1", "admin")
    clock.now += LOCK_S
    assert succeed(b, "10.66.0.1", "admin") == 0


def test_redis_down_the_guard_goes_on_in_memory_and_says_so_once(
        redis_server, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logins, "RETRY_S", 0.0)  # try Redis on every call
    a, b = two_guards(redis_server.url, Clock())
    for _ in range(9):
        fail(a, "10.66.0.1", "admin")
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="server.shared.logins"):
        assert succeed(a, "10.1.0.1", "admin") == 0, "the admin still logs in"
        holds = [fail(a, "10.66.0.2", "admin") for _ in range(11)]
        assert succeed(b, "10.66.0.2", "admin") == 0, "(the other instance did not see them)"
        redis_server.start()  # empty: what it counted before is gone
        for n in range(10):
            fail(a if n % 2 else b, "10.66.0.3", "admin")
        after = succeed(b, "10.66.0.3", "viewer")
    assert holds == [0, 0, 0, 1, 2, 4, 4, 4, 4, 4, -LOCK_S], "locked by this process alone"
    assert after == LOCK_S, "back up: counted across instances again"
    messages = [r.getMessage() for r in caplog.records]
    down = [m for m in messages if "Redis does not answer" in m]
    assert len(down) == 2 and "counted by this process alone" in down[0], "once each"
    assert sum("Redis answers again" in m for m in messages) == 2, messages


def test_an_attempt_in_flight_counts_until_it_ends_and_its_lease_ends(redis_server) -> None:
    """An attempt begun on an instance that then died stops counting after the lease."""
    a, b = two_guards(redis_server.url, Clock())
    for _ in range(9):
        fail(a, "10.66.0.1", "admin")
    dead = a.attempt("10.66.0.1", "admin")
    assert dead.__enter__().wait == 0  # begun, never ended (the process was killed)
    assert succeed(b, "10.66.0.1", "admin") > 0, "the attempt in flight may yet fail"
    client = connect(redis_server.url)
    pending = list(client.scan_iter(match=logins.PREFIX + b"*:p:*"))
    assert len(pending) == 2, "the address's and the username's"
    assert all(0 < client.ttl(key) <= logins.PENDING_LEASE_S for key in pending)
    client.delete(*pending)  # what the lease's expiry does
    assert succeed(b, "10.66.0.1", "admin") == 0
    dead.__exit__(None, None, None)


def test_known_good_pairs_are_bounded(redis_server) -> None:
    client = connect(redis_server.url)
    tables = redis_tables(client, Clock())
    known = logins.RedisKnownGood(client, Clock(), tables.known_good._fallback,
                                  logins.RedisLink(), limit=3)
    for n in range(5):
        known.add((b"\x01" * 16, f"10.0.0.{n}"))
    assert len(known) == 3
    assert (b"\x01" * 16, "10.0.0.4") in known and (b"\x01" * 16, "10.0.0.0") not in known


def test_without_a_redis_url_the_guard_is_in_memory() -> None:
    guard = logins.login_guard(None)
    assert fail(guard, "10.66.0.1", "admin") == 0
    assert guard.sizes()["addresses"] == 1
