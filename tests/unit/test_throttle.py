"""The failure table behind login and token-check throttling: waits, attempts in flight,
forgiveness, a bounded size, and the unit an address is counted by."""

from __future__ import annotations

import pytest

from app.throttle import IN_FLIGHT_WAIT_S, FailureTable, address_key, backoff, lock_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_and_lock_policies() -> None:
    """A policy says how long to wait after n failures."""
    assert [backoff(3, 1.0, 5.0)(n) for n in range(7)] == [0, 0, 0, 1, 2, 4, 5]
    assert [lock_after(2, 60.0)(n) for n in range(4)] == [0, 0, 60, 60]


def test_free_failures_then_a_wait_that_runs_out() -> None:
    clock = Clock()
    table = FailureTable(backoff(2, 1.0, 8.0), forget_after_s=600, clock=clock)
    for _ in range(2):  # two attempts are free
        assert table.wait("a") == 0
        table.failed("a")
    assert table.wait("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert table.wait("a") == 0
    table.failed("a")  # the 3rd failure: 2 s
    assert table.wait("a") == pytest.approx(2.0)
    clock.now += 1.5
    assert table.wait("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert table.wait("a") == 0
    assert table.wait("b") == 0, "other keys are not affected"


def test_attempts_in_flight_count_so_a_burst_cannot_slip_in() -> None:
    table = FailureTable(lock_after(3, 900.0), forget_after_s=600, clock=Clock())
    admitted = 0
    for _ in range(10):  # ten at once, none has ended yet
        if table.wait("a") == 0:
            table.begin("a")
            admitted += 1
    assert admitted == 3
    assert table.wait("a") == IN_FLIGHT_WAIT_S, "come back soon: those in flight may succeed"
    for _ in range(3):
        table.end("a", failed=False)
    assert table.wait("a") == 0 and len(table) == 0, "successes leave nothing behind"


def test_failures_are_forgiven_after_a_quiet_while() -> None:
    clock = Clock()
    table = FailureTable(lock_after(1, 900.0), forget_after_s=600, clock=clock)
    table.failed("a")
    assert table.wait("a") == pytest.approx(900.0) and table.failures("a") == 1
    clock.now += 600
    assert table.failures("a") == 0 and table.wait("a") == 0 and len(table) == 0


def test_the_table_is_bounded() -> None:
    table = FailureTable(lock_after(1, 900.0), forget_after_s=600, max_entries=100,
                         clock=Clock())
    for i in range(30_000):
        table.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(table) == 100
    assert table.failures("10.0.117.47") == 1, "the most recent keys are kept"


@pytest.mark.parametrize(("address", "key"), [
    ("10.1.2.3", "10.1.2.3"),
    ("::ffff:10.1.2.3", "10.1.2.3"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::7", "2001:db8:1:2::/64"),
    ("not an address" + "x" * 1000, ("not an address" + "x" * 1000)[:64]),
])
def test_addresses_are_counted_by_host_or_ipv6_64(address: str, key: str) -> None:
    assert address_key(address) == key


def test_keys_cycled_through_a_full_table_do_not_push_a_lock_out() -> None:
    """An attacker locked out at one /64 guesses on from thousands of others of its /48
    (each failing once): the table stays bounded, and the lock stays."""
    table = FailureTable(lock_after(3, 900.0), forget_after_s=600, max_entries=100,
                         clock=Clock())
    locked = address_key("2001:db8:77:1::1")
    for _ in range(3):
        table.failed(locked)
    for n in range(5_000):
        table.failed(address_key(f"2001:db8:77:{n + 2:x}::1"))
        assert table.wait(locked) == pytest.approx(900.0), n
    assert len(table) == 100


def test_when_every_key_holds_attempts_up_the_least_failed_goes() -> None:
    clock = Clock()
    table = FailureTable(backoff(1, 60.0, 600.0), forget_after_s=600, max_entries=3,
                         clock=clock)
    for key, failures in (("a", 3), ("b", 1), ("c", 2)):
        for _ in range(failures):
            table.failed(key)
    table.failed("d")  # all wait now: "b" (1 failure, the oldest of the least failed) goes
    assert {k: table.failures(k) for k in "abcd"} == {"a": 3, "b": 0, "c": 2, "d": 1}
    clock.now += 601  # all forgiven: now the least recently touched goes first
    table.failed("e")
    assert len(table) <= 3 and table.failures("e") == 1
