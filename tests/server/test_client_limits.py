"""Per-token limits: requests per minute (429 with Retry-After and rate-limit headers) and
monthly quotas of requests and model tokens (429 insufficient_quota), under concurrency."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import requests

from tests.server.client_fixtures import Appliance, MainGateway, assert_error, chat_body

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


def test_monthly_token_quota_refuses_once_used_up(gateway: MainGateway) -> None:
    quota, used, refused = 10, 0, None
    for _ in range(6):
        response = gateway.post("/api/chat", chat_body("hello there friend"),
                                token="quota-tokens")
        if used < quota:
            assert response.status_code == 200, response.text
            used += response.json()["usage"]["total_tokens"]
        else:
            refused = response
            break
    assert refused is not None, "the token quota never applied"
    assert_error(refused, 429, "insufficient_quota", mentions="token")


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
