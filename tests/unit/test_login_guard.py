"""The login guard: hard per address, soft per admin, and bounded in memory whatever
clients send (issue 11, items 9 and 12). End-to-end behaviour is in
tests/server/test_admin_auth.py; here the clock is the test's. The decisions are checked
on both kinds of tables: this process's memory, and Redis (server/shared/logins.py, the
test's own redis-server), which must decide the same."""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Callable

import pytest

from server.admin_api.guard import LOCK_S, USER_MAX_WAIT_S, LoginGuard
from server.shared.logins import redis_tables
from server.shared.redis_conn import connect

NewGuard = Callable[["Clock"], LoginGuard]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def new_guard(request: pytest.FixtureRequest) -> NewGuard:
    """Makes a guard on a clock, with nothing counted yet."""
    if request.param == "memory":
        return LoginGuard
    client = connect(request.getfixturevalue("redis_server").url)

    def in_redis(clock: Clock) -> LoginGuard:
        client.flushdb()
        return LoginGuard(tables=redis_tables(client, clock))
    return in_redis


def fail(guard: LoginGuard, address: str, username: str) -> float:
    """One failed login; returns how long its answer was held back (or -wait if refused)."""
    with guard.attempt(address, username) as attempt:
        if attempt.wait:
            return -attempt.wait
        return attempt.failed()


def succeed(guard: LoginGuard, address: str, username: str) -> float:
    """One login with the right password; returns 0, or the wait if it was refused."""
    with guard.attempt(address, username) as attempt:
        if attempt.wait:
            return attempt.wait
        attempt.succeeded()
        return 0.0


def test_an_attacker_elsewhere_cannot_lock_the_admin_out(new_guard: NewGuard) -> None:
    guard = new_guard(Clock())
    holds = [fail(guard, "10.66.0.1", "admin") for _ in range(10)]
    assert holds == [0, 0, 0, 1, 2, 4, 4, 4, 4, 4]
    assert fail(guard, "10.66.0.1", "admin") == -LOCK_S, "the attacker's address is locked"
    assert succeed(guard, "10.66.0.1", "viewer") == LOCK_S, "for every username"
    assert succeed(guard, "10.1.0.1", "admin") == 0, "the admin elsewhere logs in"
    assert succeed(guard, "10.1.0.1", "Admin ") == 0, "(names are compared normalised)"


def test_addresses_that_failed_for_an_admin_back_off_once_it_is_under_attack(
        new_guard: NewGuard) -> None:
    clock = Clock()
    guard = new_guard(clock)
    for n in range(10):  # ten attackers, one guess each: no address is locked
        assert fail(guard, f"10.66.0.{n}", "admin") == 0
    # an attacker's address that guessed before now waits, even with the right password
    wait = -fail(guard, "10.66.0.3", "admin")
    assert 0 < wait <= USER_MAX_WAIT_S
    assert succeed(guard, "10.66.0.3", "admin") == wait
    # ... but not for another admin, nor from an address that never failed for this one
    assert succeed(guard, "10.66.0.3", "viewer") == 0
    assert succeed(guard, "10.2.0.1", "admin") == 0
    clock.now += wait
    assert fail(guard, "10.66.0.3", "admin") == 0, "once the wait is over, one more guess"
    assert -fail(guard, "10.66.0.4", "admin") > wait, "and the backoff doubles"


def _burst(new_guard: NewGuard, order: list[int]) -> int:
    """Eight failed logins at once after four, begun and ended in `order` (each attempt's
    number appears twice: its start, then its end); how many were let through."""
    guard = new_guard(Clock())
    for _ in range(4):
        fail(guard, "10.66.0.1", "admin")
    open_attempts: dict[int, tuple] = {}
    admitted = 0
    for n in order:
        if n not in open_attempts:
            manager = guard.attempt("10.66.0.1", "admin")
            attempt = manager.__enter__()
            admitted += not attempt.wait
            open_attempts[n] = (manager, attempt)
        else:
            manager, attempt = open_attempts[n]
            if not attempt.wait:
                attempt.failed()
            manager.__exit__(None, None, None)
    return admitted


def test_a_burst_lets_the_same_number_through_in_any_order(new_guard: NewGuard) -> None:
    """What the end-to-end burst in test_admin_auth.py relies on: 10 failures lock an
    address, attempts count from when they begin, so after 4 failures exactly 6 of 8
    concurrent attempts are let through, however they interleave."""
    rng = random.Random(11)
    orders = [[n for n in range(8) for _ in range(2)]]  # each ends before the next begins
    orders.append([*range(8), *range(8)])  # all begin, then all end
    for _ in range(300):
        events = [n for n in range(8) for _ in range(2)]
        rng.shuffle(events)
        orders.append(events)
    assert {_burst(new_guard, order) for order in orders} == {6}


def test_an_address_the_admin_logged_in_from_is_never_held_by_the_admin_backoff(
        new_guard: NewGuard) -> None:
    guard = new_guard(Clock())
    office = "10.1.0.1"
    assert succeed(guard, office, "admin") == 0
    fail(guard, office, "admin")  # a typo, from the office
    for n in range(12):
        fail(guard, f"10.66.0.{n}", "admin")
    assert succeed(guard, office, "admin") == 0


def test_thirty_thousand_unique_failures_keep_the_tables_bounded() -> None:
    guard = LoginGuard(Clock(), max_entries=1_000)
    for n in range(30_000):
        fail(guard, f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", f"user-{n % 3}")
    assert max(guard.sizes().values()) <= 1_000, guard.sizes()


def test_huge_usernames_are_not_kept() -> None:
    guard = LoginGuard(Clock())
    huge = ["u" * (4 * 1024 * 1024) + str(n) for n in range(25)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n, name in enumerate(huge):
            fail(guard, f"10.3.0.{n}", name)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 512 * 1024, f"{kept} bytes kept for 25 failed logins with 4 MB usernames"


def test_a_login_that_broke_leaves_nothing_counted(new_guard: NewGuard) -> None:
    guard = new_guard(Clock())
    for _ in range(20):
        try:
            with guard.attempt("10.5.0.1", "admin"):
                raise ConnectionError("database down")
        except ConnectionError:
            pass
    assert succeed(guard, "10.5.0.1", "admin") == 0
    assert guard.sizes()["addresses"] == 0
