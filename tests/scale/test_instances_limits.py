"""Limits exact across three instances sharing one PostgreSQL schema and one Redis (issue
15): an rpm, a request quota and a money budget hold under bursts spread over them; a
killed instance's holds come back after their lease; a Redis that stops gets 503s, no
limit passed, and everything recovers when it is back."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from decimal import Decimal

import peewee as pw
import pytest
import requests

from app.models import RequestLog, Token, UsageDaily, utcnow
from server.client_api.usage import prompt_estimate
from server.shared.redis_limits import LEASE_S
from tests.fakes.upstream import FakeUpstream
from tests.scale.instances import Fleet, fleet_of, statuses
from tests.server.client_fixtures import UPSTREAM_KEY, assert_error, chat_body, wait_for

pytestmark = pytest.mark.postgres  # one PostgreSQL schema for the instances

PRICE_IN, PRICE_OUT = Decimal("1"), Decimal("2")  # USD a million: 1,000 / 2,000 nanos
MAX_TOKENS = 100
BODY = chat_body("hi", max_tokens=MAX_TOKENS)
PROMPT = prompt_estimate(BODY)
COST = PROMPT * 1_000 + MAX_TOKENS * 2_000  # each request's hold and its real cost
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "finish_reason": "length",
                       "message": {"role": "assistant", "content": "a long answer"}}],
          "usage": {"prompt_tokens": PROMPT, "completion_tokens": MAX_TOKENS,
                    "total_tokens": PROMPT + MAX_TOKENS}}
LIMITS = {"rpm60": {"rpm": 60}, "quota100": {"monthly_requests": 100},
          "killed": {"monthly_requests": 40}, "redis": {"monthly_requests": 50, "rpm": 1000},
          "money": {}, "free": {}}


# The same tests over three one-process instances, and over one instance of two workers
# (`serve --workers 2`): Redis makes the limits exact across processes either way.
SHAPES = {"3-instances": (3, {}), "1-instance-2-workers": (1, {"MODELPROXY_WORKERS": "2"})}


@pytest.fixture(scope="module", params=list(SHAPES))
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Fleet, FakeUpstream, dict]]:
    count, env = SHAPES[request.param]
    with FakeUpstream() as fake, \
            fleet_of(tmp_path_factory.mktemp("fleet"), count, env) as fleet:
        app = fleet.app
        app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
        app.endpoint("chat", "/api/chat", "fake")
        app.endpoint("priced", "/api/priced", "fake", price_input_per_m=PRICE_IN,
                     price_output_per_m=PRICE_OUT)
        tokens = {name: app.token(name, **fields) for name, fields in LIMITS.items()}
        with app.session():
            Token.update(monthly_budget=Decimal(10 * COST) / 1_000_000_000,
                         updated_at=utcnow()).where(Token.id == tokens["money"].id).execute()
        fleet.start()
        yield fleet, fake, tokens


def evalsha_calls(fleet: Fleet) -> int:
    import redis

    stats = redis.Redis.from_url(fleet.redis.url).info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def successes(app, token_id: int) -> int:
    with app.session():
        return RequestLog.select().where((RequestLog.token_id == token_id)
                                         & (RequestLog.status == 200)).count()


def test_an_rpm_of_60_lets_exactly_60_through_across_the_instances(fleet) -> None:
    fleet, _, tokens = fleet
    answers = fleet.burst(tokens["rpm60"], 150)
    assert statuses(answers) == {200: 60, 429: 90}
    refused = next(r for r in answers if r.status_code == 429)
    assert_error(refused, 429, "rate_limit_exceeded", "rate limit of 60 requests per minute")
    assert int(refused.headers["Retry-After"]) >= 1
    assert {r.headers["x-ratelimit-limit-requests"] for r in answers} == {"60"}


def test_a_request_without_limits_asks_nothing_of_redis(fleet) -> None:
    fleet, _, tokens = fleet
    before = evalsha_calls(fleet)
    assert statuses(fleet.burst(tokens["free"], 30)) == {200: 30}
    assert evalsha_calls(fleet) == before  # the renewer's pings are PINGs, not scripts


def test_a_quota_of_100_lets_exactly_100_of_300_concurrent_through(fleet) -> None:
    fleet, fake, tokens = fleet
    fake.set_delay(0.2)  # a slow model: the requests are in flight together
    try:
        answers = fleet.burst(tokens["quota100"], 300)
    finally:
        fake.reset()
    assert statuses(answers) == {200: 100, 429: 200}
    assert_error(next(r for r in answers if r.status_code == 429), 429, "insufficient_quota",
                 "monthly request quota of 100 reached")
    assert wait_for(lambda: successes(fleet.app, tokens["quota100"].id) == 100, 10)


def test_a_money_budget_is_never_passed_across_the_instances(fleet) -> None:
    fleet, fake, tokens = fleet
    fake.fail_next(200, ANSWER, count=100)  # each answer costs exactly its hold
    fake.set_delay(0.2)
    try:
        answers = fleet.burst(tokens["money"], 100, "/api/priced", BODY)
    finally:
        fake.reset()
    assert statuses(answers) == {200: 10, 429: 90}
    assert_error(next(r for r in answers if r.status_code == 429), 429, "insufficient_quota",
                 "monthly budget")

    def spent() -> int:
        with fleet.app.session():
            total = UsageDaily.select(pw.fn.SUM(UsageDaily.cost_nanos)).where(
                UsageDaily.token_id == tokens["money"].id).scalar()
        return int(total or 0)

    assert wait_for(lambda: spent() == 10 * COST, 10)  # the budget, exactly: never above


def test_a_killed_instance_holds_are_released_after_their_lease(fleet) -> None:
    fleet, fake, tokens = fleet
    if fleet.count < 3:
        pytest.skip("kills one of three instances (a killed worker: tests/server/test_workers.py)")
    token = tokens["killed"]  # 40 requests a month
    fake.set_delay(3.0)  # long enough to kill the instance while they wait upstream
    try:
        fake.clear()
        doomed = _in_background(fleet, token, 30, on=[0])
        assert fake.wait_until(lambda f: len(f.requests) >= 30, timeout=10)
        fleet.kill(0)  # its 30 holds stay in Redis: nobody settles them
        fake.reset()
        answers = fleet.burst(token, 30, on=[1, 2])
        assert statuses(answers) == {200: 10, 429: 20}  # 40 - 30 held
        assert statuses(fleet.burst(tokens["free"], 10, on=[1, 2])) == {200: 10}
        time.sleep(LEASE_S)  # the killed instance's leases run out
        later = fleet.burst(token, 40, on=[1, 2])
        assert statuses(later) == {200: 30, 429: 10}  # its 30, given back; 40 in all
        assert all(r is None or r.status_code != 200 for r in doomed())
    finally:
        fake.reset()
        fleet.revive(0)


def test_a_stopped_redis_gets_503s_and_recovers_by_itself(fleet) -> None:
    fleet, _, tokens = fleet
    token = tokens["redis"]  # 50 requests a month
    assert statuses([fleet.post(i, token) for i in range(20)]) == {200: 20}
    assert wait_for(lambda: successes(fleet.app, token.id) == 20, 10)  # in the rollups
    fleet.redis.stop()
    try:
        down = [fleet.post(i, token) for i in range(6)]
        assert statuses(down) == {503: 6}
        error = assert_error(down[0], 503, "limits_unavailable", "Redis")
        assert error["message"].startswith("limits cannot be checked right now")
        assert down[0].headers["Retry-After"] == "1"
        assert statuses([fleet.post(i, tokens["free"]) for i in range(3)]) == {200: 3}
        health = requests.get(fleet.url(0) + "/api/health", timeout=5)
        assert health.status_code == 503 and health.json()["redis"] == "error"
    finally:
        fleet.redis.start()  # empty: every month starts again from the rollups
    assert wait_for(lambda: all(requests.get(fleet.url(i) + "/api/health", timeout=5)
                                .json()["redis"] == "ok" for i in range(3)), 10)
    for live in fleet.instances:  # said once by each process that had to refuse
        said = re.findall(r"(\[worker \d+\] )?Redis does not answer .*requests that need a limit"
                          r" decision get 503", live.output)
        # the kernel hands one socket's connections to any worker: each says it at most once
        assert said and len(said) == len(set(said)), live.output
    time.sleep(1.1)  # past the second in which requests are refused without asking Redis
    answers = fleet.burst(token, 60)
    assert statuses(answers) == {200: 30, 429: 30}  # 20 before + 30 = the quota, exactly


def _in_background(fleet: Fleet, token, count: int, on: list[int]):
    """`count` requests sent now from threads; returns a function giving their answers
    (None for those that got none: their instance was killed)."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=count)

    def one(n: int) -> requests.Response | None:
        try:
            return fleet.post(on[n % len(on)], token)
        except requests.RequestException:
            return None

    futures = [pool.submit(one, n) for n in range(count)]

    def answers() -> list[requests.Response | None]:
        out = [f.result(timeout=60) for f in futures]
        pool.shutdown()
        return out

    return answers
