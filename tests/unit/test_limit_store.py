"""The limit store's two implementations make the same decisions: one process's memory
(rate.py's window, limits.py's quota book) and Redis (the test's own redis-server). Then
what only Redis has: leases, a Redis that stops, one that restarts empty."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.client_api.holds import Asked
from server.client_api.limit_store import Admission, LimitStore, LimitsUnavailable, MemoryLimits
from server.client_api.limits import QuotaBook
from server.client_api.quota_terms import ENDPOINT, TOKEN, Ask, Limits, Used
from server.client_api.rate import RateLimiter
from server.shared.redis_conn import connect
from server.shared.redis_limits import RedisLimits
from server.shared.redis_status import UNAVAILABLE, RedisStatus

USD = 1_000_000_000


class Rollups:
    """What the database says each subject used: (requests, tokens, nanos)."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, int], tuple[int, int, int]] = {}
        self.reads = 0

    def loader(self, subject: str) -> Callable[[int, dt.date], tuple[int, int, int]]:
        def load(subject_id: int, since: dt.date) -> tuple[int, int, int]:
            self.reads += 1
            return self.used.get((subject, subject_id), (0, 0, 0))
        return load


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


Maker = Callable[..., LimitStore]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Iterator[Maker]:
    """Makes a store over `rollups` with `clock`: in memory, or in a fresh Redis."""
    made: list[LimitStore] = []

    def memory(rollups: Rollups, clock: Clock) -> LimitStore:
        book = QuotaBook(rollups.loader(TOKEN), endpoint_usage=rollups.loader(ENDPOINT))
        return MemoryLimits(book, RateLimiter(clock))

    def in_redis(rollups: Rollups, clock: Clock) -> LimitStore:
        server = request.getfixturevalue("redis_server")
        loaders = {TOKEN: rollups.loader(TOKEN), ENDPOINT: rollups.loader(ENDPOINT)}
        store = RedisLimits(connect(server.url), loaders, RedisStatus(), clock=clock)
        made.append(store)
        return store

    yield memory if request.param == "memory" else in_redis
    for store in made:
        store.client.close()


def asked(*limits: tuple[str, int, Limits, Ask]) -> list[Asked]:
    return [Asked(s, i, lim, ask, f" for {s} {i}") for s, i, lim, ask in limits]


NO_ASK = Ask()


def token(limits: Limits, ask: Ask = NO_ASK, token_id: int = 1) -> list[Asked]:
    return asked((TOKEN, token_id, limits, ask))


def why(admission: Admission) -> str | None:
    return None if admission.refusal is None else str(admission.refusal)


# --- the same decisions --------------------------------------------------------------------


def test_rpm_lets_exactly_that_many_through_in_any_minute(make: Maker) -> None:
    clock = Clock()
    store = make(Rollups(), clock)
    decisions = []
    for _ in range(5):
        decisions.append(store.admit(1, 3, []).rate)
        clock.now += 10
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert decisions[3].reset_s == pytest.approx(30.0)  # the first leaves at 1,060
    clock.now = 1_060.0  # the first one's minute is over
    assert store.admit(1, 3, []).rate.allowed
    assert store.admit(2, 3, []).rate.allowed  # each token has its own window


def test_a_lowered_rpm_forgets_the_oldest(make: Maker) -> None:
    clock = Clock()
    store = make(Rollups(), clock)
    for _ in range(5):
        store.admit(1, 10, [])
        clock.now += 1
    decision = store.admit(1, 2, []).rate
    assert (decision.allowed, decision.remaining) == (False, 0)
    assert decision.reset_s == pytest.approx(58.0)  # the 4th of 5, made at 1,003, is kept


def test_a_request_quota_lets_exactly_n_through(make: Maker) -> None:
    store = make(Rollups(), Clock())
    limits = Limits(requests=3)
    admissions = [store.admit(1, None, token(limits)) for _ in range(5)]
    assert [a.allowed for a in admissions] == [True] * 3 + [False] * 2
    assert why(admissions[3]) == "monthly request quota of 3 reached"
    assert admissions[3].refused == 0 and admissions[3].refusal.limit == "requests"
    store.settle(admissions[0].holds, False, Used())  # failed: its hold comes back
    assert store.admit(1, None, token(limits)).allowed
    store.settle(admissions[1].holds, True, Used())
    assert not store.admit(1, None, token(limits)).allowed


def test_a_token_quota_holds_what_each_request_may_use(make: Maker) -> None:
    store = make(Rollups(), Clock())
    limits, ask = Limits(tokens=5000), Ask(1009)
    admissions = [store.admit(1, None, token(limits, ask)) for _ in range(5)]
    assert [a.allowed for a in admissions] == [True] * 4 + [False]
    assert why(admissions[4]) == (
        "this request may use up to 1009 model tokens (its prompt and max_tokens) but 964 "
        "of the monthly token quota of 5000 are left; send a smaller max_tokens")
    for a in admissions[:4]:
        store.settle(a.holds, True, Used(0, 1000))
    assert why(store.admit(1, None, token(limits, Ask(1001)))) is not None  # 1,000 left
    assert store.admit(1, None, token(limits, Ask(1000))).holds[0].tokens == 1000
    assert why(store.admit(1, None, token(limits, Ask(1)))) == (  # 1,000 held
        "this request may use up to 1 model tokens (its prompt and max_tokens) but 0 of "
        "the monthly token quota of 5000 are left; send a smaller max_tokens")


def test_without_max_tokens_one_request_at_a_time_holds_what_is_left(make: Maker) -> None:
    store = make(Rollups(), Clock())
    limits = Limits(tokens=1500)
    first = store.admit(1, None, token(limits, Ask(1024, 10)))
    second = store.admit(1, None, token(limits, Ask(1024, 10)))
    assert (first.holds[0].tokens, first.holds[0].shortened) == (1024, False)
    assert (second.holds[0].tokens, second.holds[0].shortened) == (476, True)
    third = store.admit(1, None, token(limits, Ask(1024, 10)))
    assert why(third) == ("this request needs at least 10 model tokens (its prompt and one "
                          "more) but 0 of the monthly token quota of 1500 are left")
    store.settle(second.holds, True, Used(0, 400))
    fourth = store.admit(1, None, token(limits, Ask(1024, 10)))
    assert (fourth.holds[0].tokens, fourth.holds[0].shortened) == (76, True)


def test_money_of_a_token_and_its_endpoint_is_held_together(make: Maker) -> None:
    rollups = Rollups()
    rollups.used[(ENDPOINT, 9)] = (0, 0, int(0.5 * USD))
    store = make(rollups, Clock())

    def both(nanos: int) -> list[Asked]:
        return asked((TOKEN, 1, Limits(requests=10, nanos=1 * USD), Ask(nanos=nanos)),
                     (ENDPOINT, 9, Limits(nanos=1 * USD), Ask(nanos=nanos)))

    held = store.admit(1, None, both(300_000_000))
    assert [h.nanos for h in held.holds] == [300_000_000] * 2
    refused = store.admit(1, None, both(300_000_000))  # the endpoint has 0.2 left
    assert refused.refused == 1 and refused.refusal.subject == ENDPOINT
    assert why(refused) == ("this request may cost up to $0.3000 but $0.2000 of the monthly "
                            "budget of $1.00 is left")
    ok, spends = store.settle(held.holds, True, Used(0, 10, 120_000_000))
    assert ok is False
    assert [(s.month[:2], s.before, s.after) for s in spends] == [
        ((TOKEN, 1), 0, 120_000_000), ((ENDPOINT, 9), 500_000_000, 620_000_000)]
    alone = store.admit(1, None, token(Limits(nanos=1 * USD), Ask(nanos=1)))
    assert alone.allowed  # the token's own budget had nothing held by the refused one


def test_a_spent_budget_and_a_month_read_once(make: Maker) -> None:
    rollups = Rollups()
    rollups.used[(TOKEN, 1)] = (4, 100, 2 * USD)
    store = make(rollups, Clock())
    limits = Limits(requests=5, nanos=2 * USD)
    assert why(store.admit(1, None, token(limits, Ask(nanos=1)))) == (
        "monthly budget of $2.00 reached")
    assert why(store.admit(1, None, token(Limits(requests=4)))) == (
        "monthly request quota of 4 reached")
    assert rollups.reads == 1  # the month was started from the database once


def test_the_rate_hit_counts_even_when_a_quota_refuses(make: Maker) -> None:
    store = make(Rollups(), Clock())
    refused = store.admit(1, 2, token(Limits(requests=0)))
    assert refused.rate.remaining == 1 and why(refused) == "monthly request quota of 0 reached"
    assert store.admit(1, 2, []).rate.remaining == 0


def test_random_traffic_gets_the_same_answers_in_memory_and_in_redis(
        redis_server: object) -> None:
    """One seeded sequence of requests, settles and failures on both: every decision,
    message and hold alike."""
    answers = []
    for kind in ("memory", "redis"):
        rollups, clock = Rollups(), Clock()
        rollups.used[(TOKEN, 2)] = (3, 700, 10_000)
        if kind == "memory":
            store: LimitStore = MemoryLimits(QuotaBook(rollups.loader(TOKEN),
                                                       endpoint_usage=rollups.loader(ENDPOINT)),
                                             RateLimiter(clock))
        else:
            loaders = {TOKEN: rollups.loader(TOKEN), ENDPOINT: rollups.loader(ENDPOINT)}
            store = RedisLimits(connect(redis_server.url), loaders, RedisStatus(), clock=clock,
                                lease_s=1e6)  # memory has no leases: none runs out here
        rng, held, seen = random.Random(15), [], []
        for _ in range(600):
            clock.now += rng.choice([0.0, 0.5, 3.0])
            if held and rng.random() < 0.45:
                holds = held.pop(rng.randrange(len(held)))
                spent = store.settle(holds, rng.random() < 0.8,
                                     Used(0, rng.randrange(0, 400), rng.randrange(0, 30_000)))
                seen.append([(s.before, s.after) for s in spent[1]])
                continue
            tid = rng.choice([1, 2])
            most = rng.choice([50, 200, 1024])
            least = rng.choice([None, 5])
            nanos = most * 40
            a = asked((TOKEN, tid, Limits(60, 12_000, 600_000), Ask(most, least, nanos,
                                                                 least and 200)),
                      (ENDPOINT, 5, Limits(nanos=900_000), Ask(most, least, nanos,
                                                               least and 200)))
            admission = store.admit(tid, rng.choice([None, 12]), a[:rng.choice([1, 2])])
            rate = admission.rate and (admission.rate.allowed, admission.rate.remaining,
                                       round(admission.rate.reset_s, 3))
            seen.append((rate, admission.refused, why(admission),
                         [h[:2] + h[3:5] for h in admission.holds]))
            if admission.holds:
                held.append(admission.holds)
        answers.append(seen)
    assert answers[0] == answers[1]
    decided = [s for s in answers[0] if isinstance(s, tuple)]
    assert sum(1 for s in decided if s[3]) > 50  # held
    assert {s[2].split(" ")[0] for s in decided if s[2]} >= {"monthly", "this"}  # refused


# --- what only Redis has ------------------------------------------------------------------


@pytest.fixture
def redis_store(redis_server: object) -> Iterator[tuple[RedisLimits, Clock, Rollups]]:
    rollups, clock = Rollups(), Clock()
    loaders = {TOKEN: rollups.loader(TOKEN), ENDPOINT: rollups.loader(ENDPOINT)}
    store = RedisLimits(connect(redis_server.url), loaders, RedisStatus(), clock=clock)
    yield store, clock, rollups
    store.client.close()


def test_a_hold_lapses_after_its_lease_unless_renewed(redis_store) -> None:
    store, clock, _ = redis_store
    limits = Limits(requests=2)
    kept = store.admit(1, None, token(limits))
    store.admit(1, None, token(limits))  # a process that dies holding it: never renewed
    assert not store.admit(1, None, token(limits)).allowed
    clock.now += 6
    store._live.pop(next(iter(set(store._live) - {kept.holds[0].ref})))  # dead: not renewed
    store.renew()  # the live one's lease runs from now
    clock.now += 5  # 11 s after both were made: past the dead one's lease, not the other's
    assert store.admit(1, None, token(limits)).allowed
    assert not store.admit(1, None, token(limits)).allowed  # the renewed one still holds


def test_a_redis_that_stops_refuses_decisions_and_recovers_by_itself(
        redis_store, redis_server, caplog: pytest.LogCaptureFixture) -> None:
    store, _, _ = redis_store
    held = store.admit(1, 5, token(Limits(requests=3)))
    redis_server.stop()
    for _ in range(3):
        with pytest.raises(LimitsUnavailable, match="Redis"):
            store.admit(1, 5, [])
    assert str(LimitsUnavailable(UNAVAILABLE)).startswith("limits cannot be checked")
    assert store.status.report()["redis"] == "error"
    store.settle(held.holds, True, Used(0, 5, 0))  # kept, to retry
    assert len(store._pending) == 1
    assert sum("does not answer" in r.message for r in caplog.records) == 1  # said once
    redis_server.start()  # empty, as a restart without persistence leaves it
    store.renew()  # the renewer's pass: the kept settle goes in
    assert store.status.up and not store._pending
    assert [r for r in caplog.records if "answers again" in r.message]
    admission = store.admit(1, 5, token(Limits(requests=3)))  # the month starts over
    assert admission.allowed and admission.rate.remaining == 4


def test_a_redis_restarted_empty_starts_each_month_again_from_the_database(
        redis_store, redis_server) -> None:
    store, _, rollups = redis_store
    for _ in range(2):
        store.settle(store.admit(1, None, token(Limits(requests=3))).holds, True, Used())
    rollups.used[(TOKEN, 1)] = (2, 0, 0)  # the log writer wrote both rows
    redis_server.stop()
    redis_server.start()
    assert store.admit(1, None, token(Limits(requests=3))).allowed  # 2 from the rollups
    assert not store.admit(1, None, token(Limits(requests=3))).allowed
    assert rollups.reads == 2


def test_settles_kept_while_redis_was_away_go_in_one_pipeline_after_it_lost_its_scripts(
        redis_store, redis_server) -> None:
    store, _, _ = redis_store
    limits = Limits(requests=3)
    held = [store.admit(1, None, token(limits)).holds for _ in range(2)]
    redis_server.stop()
    for holds in held:
        store.settle(holds, True, Used(0, 5, 0))  # kept, to retry
    redis_server.start()  # empty: no month, and none of the scripts
    store.client.set("mpx:probe", 1)  # answers again before the retry
    store.renew()  # both kept settles in one pipelined call: NOSCRIPT, loaded, sent again
    assert store.status.up and not store._pending
    assert store.client.script_exists(store._settle.sha) == [True]
    assert store.admit(1, None, token(limits)).allowed  # and the admit script, reloaded


def test_a_burst_on_a_month_redis_lacks_reads_the_database_once(redis_store) -> None:
    store, _, rollups = redis_store
    load = rollups.loader(TOKEN)

    def slow(subject_id: int, since: dt.date) -> tuple[int, int, int]:
        time.sleep(0.2)  # the first read is under way while the others arrive
        return load(subject_id, since)

    store._loaders[TOKEN] = slow
    with ThreadPoolExecutor(max_workers=20) as pool:
        admissions = list(pool.map(lambda _: store.admit(1, None, token(Limits(requests=15))),
                                   range(20)))
    assert sum(a.allowed for a in admissions) == 15
    assert rollups.reads == 1


def test_started_it_settles_in_the_background_and_reports_the_spends(redis_store) -> None:
    store, _, _ = redis_store
    reported: list = []
    store.report_spent(reported.extend)
    store.start()
    try:
        limits = Limits(requests=2, nanos=USD)
        first = store.admit(1, None, token(limits, Ask(nanos=100)))
        assert store.settle(first.holds, True, Used(0, 3, 70)) == (False, [])  # queued
        assert wait_until(lambda: reported)
        assert [(s.before, s.after) for s in reported] == [(0, 70)]
        second = store.admit(1, None, token(limits, Ask(nanos=100)))
        assert second.allowed  # 1 used, and the first's hold is gone
        assert why(store.admit(1, None, token(limits, Ask(nanos=100)))) == (
            "monthly request quota of 2 reached")  # 1 used + 1 held
    finally:
        store.stop()


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(predicate())
