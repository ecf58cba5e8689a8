"""Per-token limits: requests per minute (429 with Retry-After and rate-limit headers) and
monthly quotas of requests and model tokens (429 insufficient_quota), under concurrency."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from threading import Barrier
from typing import Any

import peewee as pw
import pytest
import requests

from app.models import UsageDaily
from app.services import options
from tests.conftest import POSTGRES_UP, PostgresSchema
from tests.fakes.upstream import FakeUpstream
from tests.live import LiveServer
from tests.server.client_fixtures import (
    ACTOR,
    UPSTREAM_KEY,
    Appliance,
    IssuedToken,
    MainGateway,
    assert_error,
    chat_body,
    wait_for,
)

RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests")


def _rate_headers(response: requests.Response) -> tuple[str, int, str]:
    missing = [h for h in RATE_HEADERS if h not in response.headers]
    assert missing == [], f"missing {missing} on a {response.status_code}"
    return (response.headers["x-ratelimit-limit-requests"],
            int(response.headers["x-ratelimit-remaining-requests"]),
            response.headers["x-ratelimit-reset-requests"])


def test_rpm_lets_the_limit_through_then_429_with_retry_after(gateway: MainGateway) -> None:
    answers = [gateway.post("/api/echo/chat", chat_body(), token="rpm3") for _ in range(4)]
    assert [r.status_code for r in answers[:3]] == [200, 200, 200]
    assert [_rate_headers(r)[:2] for r in answers] == [("3", 2), ("3", 1), ("3", 0), ("3", 0)]
    refused = answers[3]
    assert_error(refused, 429, "rate_limit_exceeded", mentions="rate limit")
    retry_after = refused.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    row = gateway.log_row(refused)
    assert (row["status"], row["token_id"]) == (429, gateway.tokens["rpm3"].id)


def test_rate_limit_headers_count_down_on_both_surfaces(gateway: MainGateway) -> None:
    answers = [
        gateway.post("/v1/chat/completions", {**chat_body(), "model": "echo-chat"},
                     token="rpm10"),
        gateway.post("/api/echo/chat", chat_body(), token="rpm10"),
        gateway.get("/v1/models", token="rpm10"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 200]
    headers = [_rate_headers(r) for r in answers]
    assert [(limit, remaining) for limit, remaining, _ in headers] == [
        ("10", 9), ("10", 8), ("10", 7)]
    assert all(reset.endswith("s") for _, _, reset in headers)


PROVIDER_LIMITS = {"x-ratelimit-limit-requests": "5000",
                   "x-ratelimit-remaining-requests": "4999",
                   "x-ratelimit-reset-requests": "12ms", "x-ratelimit-limit-tokens": "80000"}


def test_without_an_rpm_the_providers_rate_limit_headers_are_passed_on(
        gateway: MainGateway) -> None:
    gateway.fake.rate_limits = dict(PROVIDER_LIMITS)
    whole = gateway.post("/api/chat", chat_body())
    streamed = gateway.post("/api/chat", chat_body(stream=True))
    embedded = gateway.post("/api/embeddings", {"input": "x"})
    for response in (whole, streamed, embedded):
        assert response.status_code == 200, response.text
        assert {h: response.headers.get(h) for h in PROVIDER_LIMITS} == PROVIDER_LIMITS


def test_a_tokens_own_rpm_comes_before_the_providers_headers(gateway: MainGateway) -> None:
    gateway.fake.rate_limits = dict(PROVIDER_LIMITS)
    response = gateway.post("/api/chat", chat_body(), token="rpm10")
    assert response.status_code == 200
    limit, remaining, _ = _rate_headers(response)
    assert limit == "10" and remaining < 10  # rpm10 is shared with other tests
    assert "x-ratelimit-limit-tokens" not in response.headers


def test_monthly_request_quota_holds_under_fifty_concurrent_requests(
        gateway: MainGateway) -> None:
    start = Barrier(50)

    def one(_: int) -> requests.Response:
        start.wait(timeout=10)
        return gateway.post("/api/chat", chat_body(), token="quota5", timeout=30)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(one, range(50)))
    assert Counter(r.status_code for r in answers) == {200: 5, 429: 45}
    for refused in (r for r in answers if r.status_code == 429):
        assert_error(refused, 429, "insufficient_quota", mentions="quota")
    assert len(gateway.fake.requests) == 5  # refused ones never reached the upstream
    after = gateway.post("/api/chat", chat_body(), token="quota5")
    assert_error(after, 429, "insufficient_quota")


def test_monthly_token_quota_refuses_what_it_cannot_cover(gateway: MainGateway) -> None:
    """Each request holds its prompt's estimate and max_tokens; the quota (100) is never
    passed: the fake answers 7 tokens, each request holds 17 (13 + max_tokens 4)."""
    used, answers = 0, []
    for _ in range(20):
        response = gateway.post("/api/chat", chat_body("hello there friend", max_tokens=4),
                                token="quota-tokens")
        answers.append(response.status_code)
        if response.status_code != 200:
            break
        used += response.json()["usage"]["total_tokens"]
    assert answers == [200] * 12 + [429], answers
    assert used == 84 <= 100
    assert_error(response, 429, "insufficient_quota", mentions="max_tokens")
    refused = gateway.post("/api/chat", chat_body("hello there friend", max_tokens=100),
                           token="quota-tokens")
    assert_error(refused, 429, "insufficient_quota", mentions="16 of the monthly token quota")


def test_monthly_quota_survives_a_restart(tmp_path) -> None:
    """Quotas are monthly, not per process: a restarted server counts what was used."""
    app = Appliance(tmp_path / "data")
    try:
        app.provider("echo", type="echo")
        app.endpoint("echo-chat", "/api/chat", "echo", model="echo-model")
        token = app.token("three-a-month", monthly_requests=3)

        def ask() -> requests.Response:
            return requests.post(app.url + "/api/chat", json=chat_body(), headers=token.headers,
                                 timeout=10)

        app.serve()
        assert [ask().status_code for _ in range(2)] == [200, 200]
        assert app.stop() == 0
        app.serve()
        assert ask().status_code == 200
        assert_error(ask(), 429, "insufficient_quota")
    finally:
        app.close()


# --- token quotas under concurrency --------------------------------------------------------


THOUSAND_TOKENS = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": "a long answer"}}],
                   "usage": {"prompt_tokens": 10, "completion_tokens": 990,
                             "total_tokens": 1000}}


HOLDS = ("max_tokens", "max_completion_tokens", "default-hold", "setting", "absurd")


@dataclass
class TokenQuotas:
    """A server in front of a fake upstream, with a 5,000-token token for each test."""

    app: Appliance
    fake: FakeUpstream
    tokens: dict[str, IssuedToken]


@pytest.fixture(scope="module")
def token_quotas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenQuotas]:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path_factory.mktemp("token-quotas"))
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            app.endpoint("chat", "/api/chat", "fake")
            tokens = {name: app.token(name, monthly_tokens=5000) for name in HOLDS}
            tokens["small"] = app.token("small", monthly_tokens=30)
            app.serve()
            app.wait_for_provider_checks(1)
            yield TokenQuotas(app, fake, tokens)
        finally:
            app.close()


def _concurrently(app: Appliance, token: IssuedToken, body: dict[str, Any],
                  clients: int = 200) -> Counter[int]:
    start = Barrier(clients)

    def one(_: int) -> int:
        start.wait(timeout=10)
        return requests.post(app.url + "/api/chat", json=body, headers=token.headers,
                             timeout=30).status_code

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return Counter(pool.map(one, range(clients)))


def _month_tokens(app: Appliance, token: IssuedToken) -> int:
    """What the rollups (which quotas read) say the token used."""
    U = UsageDaily
    with app.session():
        total = (U.select(pw.fn.SUM(U.prompt_tokens + U.completion_tokens))
                 .where(U.token_id == token.id).scalar())
    return int(total or 0)


@pytest.mark.parametrize(("hold", "body", "through"), [
    # holds 9 (the prompt) + 1,000: four fit in 5,000; a fifth needs 1,009 of the 1,000 left
    ("max_tokens", chat_body("hi", max_tokens=1000), 4),
    ("max_completion_tokens", chat_body("hi", max_completion_tokens=1000), 4),
    # holds 9 + the default 1,024; a fifth holds the 868 left (one such at a time)
    ("default-hold", chat_body("hi"), 5),
])
def test_200_concurrent_answers_of_1000_tokens_stay_within_5000(
        token_quotas: TokenQuotas, hold: str, body: dict[str, Any], through: int) -> None:
    token = token_quotas.tokens[hold]
    token_quotas.fake.fail_next(200, THOUSAND_TOKENS, count=200)
    token_quotas.fake.set_delay(0.2)  # a slow model: every request is in flight at once
    try:
        answers = _concurrently(token_quotas.app, token, body)
    finally:
        token_quotas.fake.reset()
    assert answers == {200: through, 429: 200 - through}
    assert wait_for(lambda: _month_tokens(token_quotas.app, token) == 1000 * through, 10)
    assert _month_tokens(token_quotas.app, token) <= 5000


def test_the_default_hold_is_the_quota_reserve_tokens_setting(
        token_quotas: TokenQuotas) -> None:
    """Three slow requests at once without max_tokens: each holds 9 + 1,024 of 5,000; with
    the setting at 3,000 the first holds 3,009, the second what is left (one such
    shortened hold at a time), and the third is refused."""
    app, token, fake = token_quotas.app, token_quotas.tokens["setting"], token_quotas.fake

    def three_at_once() -> Counter[int]:
        return _concurrently(app, token, chat_body("hi"), clients=3)

    fake.set_delay(0.3)
    try:
        assert three_at_once() == {200: 3}
        with app.session():
            options.update(app.settings, ACTOR, {"quota_reserve_tokens": 3000})
        assert wait_for(lambda: three_at_once() == {200: 2, 429: 1}, 10)  # reloaded
        with app.session():
            options.update(app.settings, ACTOR, {"quota_reserve_tokens": None})
        assert wait_for(lambda: three_at_once() == {200: 3}, 10)
    finally:
        fake.reset()
        with app.session():
            options.update(app.settings, ACTOR, {"quota_reserve_tokens": None})


def test_a_quota_below_the_default_hold_serves_requests_without_max_tokens(
        token_quotas: TokenQuotas) -> None:
    """A 30-token quota: requests without max_tokens hold what is left (the default 1,024
    never fits), one after another, until not even the prompt and one token fit (the
    fake answers 3 tokens: 7 requests). Before, every one was refused."""
    app, token = token_quotas.app, token_quotas.tokens["small"]
    answers = [requests.post(app.url + "/api/chat", json=chat_body("hi"),
                             headers=token.headers, timeout=10) for _ in range(10)]
    statuses = [r.status_code for r in answers]
    through = statuses.count(200)
    assert through > 1 and statuses == [200] * through + [429] * (10 - through), statuses
    assert_error(answers[-1], 429, "insufficient_quota", mentions="at least 10 model tokens")
    assert wait_for(lambda: _month_tokens(app, token) == sum(
        r.json()["usage"]["total_tokens"] for r in answers[:through]), 10)


@pytest.mark.parametrize("limits", [
    pytest.param({"max_tokens": 10**12}, id="absurd"),
    pytest.param({"max_completion_tokens": 10**9}, id="absurd-completion"),
    pytest.param({"max_tokens": -1}, id="minus-one"),
    pytest.param({"max_tokens": 10, "n": 10**10}, id="absurd-n"),
])
def test_an_absurd_max_tokens_holds_the_most_not_the_default(
        token_quotas: TokenQuotas, limits: dict[str, int]) -> None:
    """Read as unset, 10**12 held the 1,024 default and was let through on a 5,000-token
    quota; it holds 100,000,000 now, more than the quota has."""
    app, token = token_quotas.app, token_quotas.tokens["absurd"]
    token_quotas.fake.clear()
    response = requests.post(app.url + "/api/chat", json={**chat_body("hi"), **limits},
                             headers=token.headers, timeout=10)
    assert_error(response, 429, "insufficient_quota", mentions="up to 100000009 model tokens")
    assert token_quotas.fake.requests == []  # never forwarded


# --- servers sharing one PostgreSQL database ------------------------------------------------


@dataclass
class TwoServers:
    """One appliance on a PostgreSQL schema of its own, served by two processes."""

    app: Appliance
    urls: tuple[str, str]
    tokens: dict[str, IssuedToken]


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoServers]:
    if not POSTGRES_UP:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    with PostgresSchema() as schema, FakeUpstream() as fake:
        app = Appliance(tmp_path_factory.mktemp("two-servers"), schema.url)
        other: LiveServer | None = None
        try:
            app.provider("echo", type="echo")
            app.provider("slow", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            app.endpoint("echo-chat", "/api/chat", "echo", model="echo-model")
            app.endpoint("slow-chat", "/api/slow", "slow")
            # streams whose provider holds on for 5 s after [DONE]
            app.provider("holds", base_url=fake.fault_url("after_done", 5), api_key=UPSTREAM_KEY)
            app.endpoint("holds-chat", "/api/holds", "holds")
            tokens = {"streams": app.token("four-streams", monthly_requests=4),
                      "requests": app.token("ten-requests", monthly_requests=10),
                      "tokens": app.token("two-thousand-tokens", monthly_tokens=2000),
                      "concurrent": app.token("concurrent", monthly_requests=10),
                      "many": app.token("many", monthly_requests=1000,
                                        monthly_tokens=10**9)}
            app.serve()
            other = LiveServer(app.data_dir, schema.url)
            other.env = app.live.env
            other.start()
            fake.set_delay(0.5)  # every request of a test is in flight at once
            yield TwoServers(app, (app.url, other.url), tokens)
        finally:
            if other is not None:
                other.stop()
            app.close()


def _alternating(servers: TwoServers, token: IssuedToken, body: dict[str, Any],
                 count: int) -> list[int]:
    """`count` requests one after another, to each server in turn."""
    return [requests.post(servers.urls[i % 2] + "/api/chat", json=body, headers=token.headers,
                          timeout=10).status_code for i in range(count)]


@pytest.mark.postgres
def test_sequential_use_across_two_servers_stops_at_the_request_quota(
        two_servers: TwoServers) -> None:
    answers = _alternating(two_servers, two_servers.tokens["requests"], chat_body(), 20)
    assert answers == [200] * 10 + [429] * 10


@pytest.mark.postgres
def test_sequential_use_across_two_servers_stays_within_the_token_quota(
        two_servers: TwoServers) -> None:
    """Each request holds its prompt's estimate (~308) and max_tokens (300) and uses ~604
    (the echo's count): the quota stops the first request that would pass it, on
    whichever server it is asked."""
    token = two_servers.tokens["tokens"]
    body = chat_body("hi " * 400, max_tokens=300)
    answers = _alternating(two_servers, token, body, 12)
    through = answers.count(200)
    assert answers == [200] * through + [429] * (12 - through)
    assert wait_for(lambda: _month_tokens(two_servers.app, token) > 0, 5)
    used = _month_tokens(two_servers.app, token)
    assert used <= 2000 < used + used // through  # one more would have passed it


@pytest.mark.postgres
def test_sequential_streams_across_two_servers_stop_at_the_request_quota(
        two_servers: TwoServers) -> None:
    """Each stream's next request goes to the other server the moment [DONE] is read (as
    an SDK may, not reading on to the answer's end; the provider here holds its connection
    for 5 s after [DONE]): by then the stream is settled and its row written."""
    token, answers, responses = two_servers.tokens["streams"], [], []
    try:
        for i in range(8):
            response = requests.post(two_servers.urls[i % 2] + "/api/holds", stream=True,
                                     json=chat_body(stream=True), headers=token.headers,
                                     timeout=10)
            responses.append(response)  # held open: the client has not left
            done = response.status_code == 200 and b"data: [DONE]" in response.iter_lines()
            answers.append("done" if done else response.status_code)
    finally:
        for response in responses:
            response.close()
    assert answers == ["done"] * 4 + [429] * 4


@pytest.mark.postgres
def test_concurrent_use_across_two_servers_is_bounded_by_their_holds(
        two_servers: TwoServers) -> None:
    """Concurrent requests on two servers each see what the other settled, not what it
    holds: at most one quota per server gets through, never more."""
    token = two_servers.tokens["concurrent"]
    start = Barrier(40)

    def one(i: int) -> int:
        start.wait(timeout=10)
        return requests.post(two_servers.urls[i % 2] + "/api/chat", json=chat_body(),
                             headers=token.headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = Counter(pool.map(one, range(40)))
    assert 10 <= answers[200] <= 20 and answers[200] + answers[429] == 40
    assert _alternating(two_servers, token, chat_body(), 2) == [429, 429]


@pytest.mark.postgres
def test_more_requests_in_flight_than_database_connections(two_servers: TwoServers) -> None:
    """Quota reads and writes take a pooled connection (32) only while they run, not for
    the whole upstream call: 80 slow requests at once on one server all succeed."""
    token = two_servers.tokens["many"]
    start = Barrier(80)

    def one(_: int) -> int:
        start.wait(timeout=10)
        return requests.post(two_servers.urls[0] + "/api/slow", json=chat_body(),
                             headers=token.headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=80) as pool:
        assert Counter(pool.map(one, range(80))) == {200: 80}
