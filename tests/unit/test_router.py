"""The routing policy (server/client_api/router.py) with an injected clock and a seeded rng:
weighted order, priorities, cool-downs, half-open probes, Retry-After, what is retried."""

from __future__ import annotations

import email.utils
import math
import random
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.client_api.router import (
    RouteOptions,
    Router,
    retry_after_seconds,
    retryable,
)


@dataclass(frozen=True)
class Target:
    id: int
    priority: int = 0
    weight: int = 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


OPTIONS = RouteOptions(attempts=10, time_budget_s=120, cooldown_failures=3,
                       cooldown_window_s=60, cooldown_s=30)


def make_router(seed: int = 13, options: RouteOptions = OPTIONS) -> tuple[Router, Clock]:
    clock = Clock()
    return Router(clock=clock, rng=random.Random(seed), options=options), clock


def ids(order: list[Target]) -> list[int]:
    return [t.id for t in order]


def cool(router: Router, target_id: int, times: int = 3) -> None:
    for _ in range(times):
        router.failed(target_id, 502, "upstream 502")


# --- order: weights and priorities -------------------------------------------------------

def test_weights_one_to_three_pick_the_heavy_one_first_three_times_in_four() -> None:
    router, _ = make_router()
    light, heavy = Target(1, weight=1), Target(2, weight=3)
    n, p = 1000, 0.75
    firsts = Counter()
    for _ in range(n):
        order = router.order([light, heavy])
        assert sorted(ids(order)) == [1, 2], "every target is in every order"
        firsts[order[0].id] += 1
    # Binomial(1000, 0.75): sigma = sqrt(n p (1 - p)) ~ 13.7; 5 sigma ~ 68 either side.
    tolerance = 5 * math.sqrt(n * p * (1 - p))
    assert abs(firsts[2] - n * p) <= tolerance, firsts
    assert firsts[1] + firsts[2] == n


def test_equal_weights_of_three_each_come_first_about_a_third_of_the_time() -> None:
    router, _ = make_router(seed=7)
    targets = [Target(1), Target(2), Target(3)]
    n, p = 1000, 1 / 3
    firsts = Counter(router.order(targets)[0].id for _ in range(n))
    tolerance = 5 * math.sqrt(n * p * (1 - p))  # ~74.5
    assert all(abs(firsts[i] - n * p) <= tolerance for i in (1, 2, 3)), firsts


def test_a_lower_priority_is_always_first_while_usable() -> None:
    router, _ = make_router()
    first, second_a, second_b = Target(5, priority=0), Target(1, 1, 100), Target(2, 1, 100)
    for _ in range(200):
        order = router.order([second_a, first, second_b])
        assert order[0] == first
        assert set(ids(order[1:])) == {1, 2}
    router.failed(5, 500, "one failure is not a cool-down")
    assert router.order([first, second_a, second_b])[0] == first


def test_falls_to_the_next_priority_when_all_of_the_first_are_cooling() -> None:
    router, _ = make_router()
    a, b, fallback = Target(1, 0), Target(2, 0), Target(3, 1)
    cool(router, 1)
    assert ids(router.order([a, b, fallback])) == [2, 3]
    cool(router, 2)
    assert ids(router.order([a, b, fallback])) == [3]


def test_the_order_is_cut_at_the_attempts_option_and_usable_filters() -> None:
    router, _ = make_router(options=RouteOptions(attempts=2))
    targets = [Target(1, 0), Target(2, 1), Target(3, 2)]
    assert ids(router.order(targets)) == [1, 2]
    assert ids(router.order(targets, usable=lambda t: t.id != 1)) == [2, 3]
    assert router.order(targets[:1], usable=lambda t: False) == []
    assert router.order([]) == []


# --- cool-downs ---------------------------------------------------------------------------

def test_n_failures_within_the_window_cool_a_target_down() -> None:
    router, clock = make_router()
    a, b = Target(1, 0), Target(2, 1)
    router.failed(1, 502, "bad gateway")
    clock.now += 20
    router.failed(1, None, "connection refused")
    assert ids(router.order([a, b])) == [1, 2]
    assert router.health(1)["state"] == "healthy"
    clock.now += 20
    router.failed(1, 529, "overloaded")
    assert ids(router.order([a, b])) == [2], "skipped while cooling"
    health = router.health(1)
    assert health == {"state": "cooling", "cooling_for_s": pytest.approx(30),
                      "recent_failures": 0, "last_error": "overloaded", "last_status": 529}
    clock.now += 29
    assert ids(router.order([a, b])) == [2]
    assert router.health(1)["cooling_for_s"] == pytest.approx(1)


def test_failures_spread_wider_than_the_window_do_not_cool() -> None:
    router, clock = make_router()
    a, b = Target(1, 0), Target(2, 1)
    for _ in range(10):
        router.failed(1, 500, "internal error")
        clock.now += 31  # any three span 62 s > the 60 s window
    assert ids(router.order([a, b])) == [1, 2]
    assert router.health(1)["state"] == "healthy"
    assert router.health(1)["recent_failures"] == 1
    clock.now += 60
    assert router.health(1)["recent_failures"] == 0


def test_half_open_after_the_cool_down_one_request_gets_it_until_it_reports() -> None:
    router, clock = make_router()
    a, b = Target(1, 0), Target(2, 1)
    cool(router, 1)
    clock.now += 30
    assert router.health(1)["state"] == "half_open"
    assert ids(router.order([a, b])) == [1, 2], "the probe"
    for _ in range(5):
        assert ids(router.order([a, b])) == [2], "nobody else while the probe is out"
    router.succeeded(1)
    assert router.health(1) == {"state": "healthy", "cooling_for_s": None,
                                "recent_failures": 0, "last_error": "upstream 502",
                                "last_status": 502}
    assert ids(router.order([a, b])) == [1, 2]
    assert ids(router.order([a, b])) == [1, 2]
    router.failed(1, 502, "one failure after closing")
    assert ids(router.order([a, b])) == [1, 2], "failures were forgotten on success"


def test_a_failed_probe_reopens_the_cool_down_at_once() -> None:
    router, clock = make_router()
    a, b = Target(1, 0), Target(2, 1)
    cool(router, 1)
    clock.now += 30
    assert ids(router.order([a, b])) == [1, 2]
    router.failed(1, 503, "still down")
    assert router.health(1)["state"] == "cooling"
    assert router.health(1)["cooling_for_s"] == pytest.approx(30)
    assert ids(router.order([a, b])) == [2]
    clock.now += 30
    assert ids(router.order([a, b])) == [1, 2], "the next probe, after a full cool-down"


def test_a_probe_never_tried_is_freed_by_release_or_after_the_time_budget() -> None:
    router, clock = make_router()
    a, b = Target(1, 0), Target(2, 0)
    cool(router, 1)
    clock.now += 30
    assert 1 in ids(router.order([a, b]))
    assert ids(router.order([a, b])) == [2]
    router.release(1)  # its request was answered by target 2 first
    assert 1 in ids(router.order([a, b]))
    assert ids(router.order([a, b])) == [2]
    clock.now += 120  # that request can start no attempt now
    assert 1 in ids(router.order([a, b]))


def test_retry_after_cools_at_once_for_that_long_capped_at_an_hour() -> None:
    router, clock = make_router()
    a, b = Target(1, 0), Target(2, 1)
    router.failed(1, 429, "rate limited", retry_after_s=90)
    assert ids(router.order([a, b])) == [2]
    assert router.health(1)["cooling_for_s"] == pytest.approx(90)
    router.failed(1, 502, "a later failure", retry_after_s=None)
    assert router.health(1)["cooling_for_s"] == pytest.approx(90), "not cut short"
    clock.now += 90
    assert ids(router.order([a, b])) == [1, 2]
    router.failed(2, 503, "down for a day", retry_after_s=86400)
    assert router.health(2)["cooling_for_s"] == pytest.approx(3600)


def test_when_all_are_cooling_the_soonest_to_end_is_still_tried() -> None:
    router, clock = make_router()
    a, b, c = Target(1, 0), Target(2, 0), Target(3, 1)
    router.failed(1, 429, "limited", retry_after_s=300)
    router.failed(2, 429, "limited", retry_after_s=100)
    router.failed(3, 429, "limited", retry_after_s=200)
    assert ids(router.order([a, b, c])) == [2]
    assert ids(router.order([a])) == [1], "a lone target is always tried"
    router.succeeded(2)  # tried anyway, and it answered: closed
    assert ids(router.order([a, b, c])) == [2]
    assert router.health(2)["state"] == "healthy"
    clock.now += 200
    assert ids(router.order([a, b, c])) == [2, 3], "3's probe; 1 cools 100 s more"
    clock.now += 100
    assert ids(router.order([a, b, c])) in ([1, 2], [2, 1]), "1's probe; 3's is out"


def test_one_healthy_target_takes_the_fast_path_and_success_changes_nothing() -> None:
    router, _ = make_router()
    only = Target(1)
    assert router.order([only]) == [only]
    router.succeeded(1)
    assert router.health(1)["state"] == "healthy"
    assert router.health(99)["state"] == "healthy", "an unknown target is healthy"


def test_route_options_from_the_settings_dict() -> None:
    assert RouteOptions.from_options({}) == RouteOptions(3, 120, 3, 60, 30)
    assert RouteOptions.from_options({
        "route_attempts": 5, "route_time_budget_s": 10, "cooldown_failures": 1,
        "cooldown_window_s": 5, "cooldown_s": 7, "other": 1}) == RouteOptions(5, 10, 1, 5, 7)


# --- what is retried, Retry-After ---------------------------------------------------------

@pytest.mark.parametrize(("status", "timeout", "expected"), [
    (None, False, True),  # connection failure
    (None, True, True),  # timeout before the first byte
    (200, True, True),
    (429, False, True), (500, False, True), (502, False, True), (503, False, True),
    (504, False, True), (529, False, True), (599, False, True),
    (401, False, True), (403, False, True), (404, False, True),
    (400, False, False), (413, False, False), (422, False, False),
    (408, False, False), (409, False, False), (200, False, False), (302, False, False),
])
def test_retryable(status: int | None, timeout: bool, expected: bool) -> None:
    assert retryable(status, timeout) is expected


def test_retry_after_seconds() -> None:
    now = 1_800_000_000.0
    in_two_minutes = email.utils.formatdate(now + 120, usegmt=True)
    assert retry_after_seconds("30") == 30.0
    assert retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds("0") == 0.0
    assert retry_after_seconds("99999") == 3600.0
    assert retry_after_seconds("9" * 400) == 3600.0  # beyond a float: still the longest wait
    assert retry_after_seconds(in_two_minutes, now=now) == pytest.approx(120)
    assert retry_after_seconds(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert retry_after_seconds(email.utils.formatdate(now + 86400), now=now) == 3600.0
    for junk in (None, "", "  ", "-5", "soon", "1e3", "inf", "nan", "+5", "1.2.3", "١٢",
                 "Mon, 99 Foo 2026 25:61:00 GMT"):
        assert retry_after_seconds(junk, now=now) is None, junk


# --- property: the order is a sound subset ------------------------------------------------

TARGETS = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 1000)), min_size=0, max_size=8)


@settings(max_examples=200, deadline=None)
@given(specs=TARGETS, cooling=st.sets(st.integers(0, 7)), dropped=st.sets(st.integers(0, 7)),
       seed=st.integers(0, 2**32))
def test_order_is_a_permutation_of_the_usable_targets_in_priority_order(
        specs: list[tuple[int, int]], cooling: set[int], dropped: set[int], seed: int) -> None:
    router, _ = make_router(seed=seed)
    targets = [Target(i, priority, weight) for i, (priority, weight) in enumerate(specs)]
    for target_id in cooling:
        cool(router, target_id)
    given_targets = [t for t in targets if t.id not in dropped]  # the enabled subset
    order = router.order(given_targets)
    usable = [t for t in given_targets if t.id not in cooling]
    if usable:
        assert sorted(ids(order)) == sorted(ids(usable))
        priorities = [t.priority for t in order]
        assert priorities == sorted(priorities)
    elif given_targets:
        assert len(order) == 1 and order[0] in given_targets, "the soonest is tried anyway"
    else:
        assert order == []


def test_the_time_left_is_never_more_than_the_longest_cool_down() -> None:
    # (now + 3600) - now is 3600.000000000001 for some clocks: found by the fuzz test.
    now = 123456.789
    router = Router(clock=lambda: now)
    router.failed(1, 429, "slow down", retry_after_s=1e308)
    assert router.health(1)["cooling_for_s"] <= 3600
