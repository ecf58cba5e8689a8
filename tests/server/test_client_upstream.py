"""When the upstream fails: 502 for its errors and silences, 400 for requests it rejects,
504 past the provider's timeout — never a stack trace, never the provider key."""

from __future__ import annotations

import time

import pytest
import requests

from tests.server.client_fixtures import UPSTREAM_KEY, MainGateway, assert_error, chat_body


@pytest.mark.parametrize("status", [500, 502, 503, 401, 404, 429])
def test_upstream_failure_is_502_upstream_error(gateway: MainGateway, status: int) -> None:
    gateway.fake.fail_next(status)
    response = gateway.post("/api/chat", chat_body())
    error = assert_error(response, 502, "upstream_error", mentions="fake")
    assert str(status) in error["message"]
    row = gateway.log_row(response)
    assert row["status"] == 502 and row["error"] and UPSTREAM_KEY not in row["error"]


def test_the_providers_retry_after_goes_on_with_the_502(gateway: MainGateway) -> None:
    gateway.fake.fail_next(429, headers={"Retry-After": "7"})
    throttled = gateway.post("/api/chat", chat_body())
    assert_error(throttled, 502, "upstream_error", mentions="429")
    assert throttled.headers["Retry-After"] == "7"
    gateway.fake.fail_next(500)
    assert "Retry-After" not in gateway.post("/api/chat", chat_body()).headers


def test_upstream_error_quoting_the_provider_key_does_not_leak_it(gateway: MainGateway) -> None:
    gateway.fake.fail_next(401, {"error": {
        "message": f"Incorrect API key provided: {UPSTREAM_KEY}. Find your key at ...",
        "type": "invalid_request_error", "code": "invalid_api_key"}})
    response = gateway.post("/v1/chat/completions", {**chat_body(), "model": "chat"})
    assert_error(response, 502, "upstream_error", mentions="Incorrect API key")
    assert UPSTREAM_KEY not in response.text
    assert "secret-1234" not in response.text
    row = gateway.log_row(response)
    assert "secret-1234" not in (row["error"] or "")


def test_upstream_answer_that_is_not_json_is_502(gateway: MainGateway) -> None:
    gateway.fake.fail_next(200, "<html>a captive portal</html>")
    assert_error(gateway.post("/api/chat", chat_body()), 502, "upstream_error", mentions="JSON")


def test_whole_answers_are_relayed_byte_for_byte(gateway: MainGateway) -> None:
    """The provider's own JSON text, not a re-encoding (its float digits, spacing, order)."""
    answer = ('{"usage":{"prompt_tokens":3,"total_tokens":3},"object":"list",\n'
              '"data":[{"index":0,"object":"embedding","embedding":[1.50E-3, 0.1000000000000000055,'
              ' -7e-05]}],"model":"m","note":"caf\u00e9"}').encode()
    gateway.fake.fail_next(200, answer, headers={"Content-Type": "application/json"})
    response = gateway.post("/api/embeddings", {"input": "x"})
    assert response.status_code == 200 and response.content == answer
    assert response.headers["Content-Type"] == "application/json"
    assert gateway.log_row(response)["prompt_tokens"] == 3


def test_upstream_500_with_a_plain_text_body_is_502(gateway: MainGateway) -> None:
    gateway.fake.fail_next(500, "Traceback (most recent call last):\n  boom")
    response = gateway.post("/api/embeddings", {"input": "x"})
    assert_error(response, 502, "upstream_error")


@pytest.mark.parametrize("status", [400, 422])
def test_upstream_rejecting_the_request_is_400(gateway: MainGateway, status: int) -> None:
    gateway.fake.fail_next(status, {"error": {"message": "max_tokens is too large",
                                              "type": "invalid_request_error", "code": None}})
    response = gateway.post("/api/chat", chat_body(max_tokens=10**9))
    assert_error(response, 400, {"upstream_rejected_request", "invalid_request"},
                 mentions="max_tokens is too large")
    assert gateway.log_row(response)["status"] == 400


def test_upstream_dropping_the_connection_is_502(gateway: MainGateway) -> None:
    gateway.fake.drop_next()
    response = gateway.post("/api/chat", chat_body())
    assert_error(response, 502, "upstream_error", mentions="fake")
    assert gateway.log_row(response)["status"] == 502


def test_upstream_dropping_a_stream_request_is_502(gateway: MainGateway) -> None:
    gateway.fake.drop_next()
    response = gateway.post("/api/chat", chat_body(stream=True))
    assert_error(response, 502, "upstream_error")


def test_unreachable_upstream_is_502(gateway: MainGateway) -> None:
    gateway.fake.fail_next(503, count=3)
    for _ in range(3):
        assert_error(gateway.post("/api/chat", chat_body()), 502, "upstream_error")
    assert gateway.post("/api/chat", chat_body()).status_code == 200  # and it recovers


def test_provider_timeout_is_504_upstream_timeout(gateway: MainGateway) -> None:
    gateway.fake.set_delay(2)
    started = time.monotonic()
    response = gateway.post("/api/slow", chat_body())
    elapsed = time.monotonic() - started
    assert_error(response, 504, "upstream_timeout", mentions="0.5")
    assert elapsed < 1.8, "the 0.5 s provider timeout was not applied"
    assert gateway.log_row(response)["status"] == 504


def test_provider_timeout_on_a_stream_is_504(gateway: MainGateway) -> None:
    gateway.fake.set_delay(2)
    response = gateway.post("/api/slow", chat_body(stream=True))
    assert_error(response, 504, "upstream_timeout")


def test_no_response_ever_has_a_traceback_or_the_key(gateway: MainGateway) -> None:
    gateway.fake.fail_next(500, f"Traceback (most recent call last): key={UPSTREAM_KEY}")
    responses = [
        gateway.post("/api/chat", chat_body()),
        requests.post(gateway.url + "/api/chat", data=b"\x00\x01", timeout=10,
                      headers=gateway.headers()),
        requests.post(gateway.url + "/v1/chat/completions", data="{", timeout=10,
                      headers=gateway.headers()),
        gateway.get("/api/models", params={"provider": "fake"}),
    ]
    for response in responses:
        assert "Traceback" not in response.text
        assert UPSTREAM_KEY not in response.text and "secret-1234" not in response.text
