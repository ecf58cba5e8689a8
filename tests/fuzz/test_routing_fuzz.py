"""The routing policy and the inputs a provider or an admin controls, fuzzed: a Retry-After
header of any text, a price lookup of any model name, and the router under any sequence of
orders, failures, successes, releases and clock advances."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from app import prices
from server.client_api.router import RETRY_AFTER_CAP_S, RouteOptions, Router, retry_after_seconds

ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()))
# Header-shaped text too: numbers of any size and sign, and HTTP dates of any year and zone.
NUMBERS = st.one_of(st.integers(-10**400, 10**400).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr))
DATES = st.builds(
    lambda day, month, year, clock, zone: f"{day}, {month} {year} {clock} {zone}",
    st.sampled_from(["Mon", "Sun", "Xyz", ""]), st.sampled_from(["Jan", "Dec", "Foo"]),
    st.integers(-1, 100_000), st.sampled_from(["00:00:00", "23:59:59", "25:61:61", "1:2"]),
    st.sampled_from(["GMT", "-0000", "+1400", "-2359", "+9999", "UT", "EST", "", "+"]))
RETRY_AFTER = st.one_of(ANY_TEXT, NUMBERS, DATES)


@given(RETRY_AFTER, st.floats(-1e12, 1e12))
def test_retry_after_never_raises_and_is_none_or_within_the_cap(value: str, now: float) -> None:
    seconds = retry_after_seconds(value, now)
    assert seconds is None or 0.0 <= seconds <= RETRY_AFTER_CAP_S


@given(st.sampled_from(["openai", "anthropic", "openrouter", "ollama", "", "x/y"]), ANY_TEXT)
def test_price_lookup_never_raises_for_any_model_name(provider_type: str, model: str) -> None:
    price = prices.lookup(provider_type, model)
    assert price is None or min(price.input, price.cached_input, price.output) >= 0


@dataclass(frozen=True)
class Target:
    id: int
    priority: int
    weight: int


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


TARGETS = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 1000)), min_size=1, max_size=6)
STEP = st.one_of(
    st.tuples(st.just("order"), st.integers(0, 63)),  # a bit mask of the usable targets
    st.tuples(st.just("failed"), st.integers(0, 5), st.sampled_from([None, 429, 500, 503, 529]),
              st.one_of(st.none(), st.floats(0, 7200))),
    st.tuples(st.just("succeeded"), st.integers(0, 5)),
    st.tuples(st.just("release"), st.integers(0, 5)),
    st.tuples(st.just("advance"), st.floats(0, 200)),
)
OPTIONS = st.builds(RouteOptions, attempts=st.integers(1, 10), time_budget_s=st.floats(1, 600),
                    cooldown_failures=st.integers(1, 5), cooldown_window_s=st.floats(1, 120),
                    cooldown_s=st.floats(1, 120))


@given(TARGETS, st.lists(STEP, max_size=60), OPTIONS, st.integers(0, 2**32))
def test_router_order_is_always_a_nonempty_subset_of_the_usable_targets(
        specs: list[tuple[int, int]], steps: list[tuple], options: RouteOptions,
        seed: int) -> None:
    targets = [Target(n, priority, weight) for n, (priority, weight) in enumerate(specs)]
    clock = Clock()
    router = Router(clock=clock, rng=random.Random(seed), options=options)
    for step in steps:
        _apply(router, clock, targets, step)
    # Every request reported, long after any cool-down: nothing is left cooling or probing.
    for target in targets:
        router.release(target.id)
    clock.now += RETRY_AFTER_CAP_S + options.cooldown_s + options.time_budget_s + 1
    assert len(router.order(targets)) == min(options.attempts, len(targets))
    assert all(router.health(t.id)["state"] != "cooling" for t in targets)


def _apply(router: Router, clock: Clock, targets: list[Target], step: tuple) -> None:
    action = step[0]
    if action == "order":
        usable = {t.id for t in targets if step[1] >> t.id & 1}
        order = router.order(targets, lambda t: t.id in usable)
        assert {t.id for t in order} <= usable and len({t.id for t in order}) == len(order)
        assert len(order) <= router.options.attempts
        assert bool(order) == bool(usable), "never empty while a target is usable"
        priorities = [t.priority for t in order]
        assert priorities == sorted(priorities) or len(order) == 1
    elif action == "failed":
        router.failed(step[1], step[2], "boom", step[3])
    elif action == "succeeded":
        router.succeeded(step[1])
    elif action == "release":
        router.release(step[1])
    else:
        clock.now += step[1]
    for target in targets:
        health = router.health(target.id)
        assert health["state"] in ("healthy", "cooling", "half_open")
        assert health["cooling_for_s"] is None or 0 < health["cooling_for_s"] <= max(
            RETRY_AFTER_CAP_S, router.options.cooldown_s)
