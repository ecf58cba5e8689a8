"""Streamed chat through the proxy: the SSE format, usage counting, mid-stream failures and
clients that hang up."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.server.client_fixtures import (
    MainGateway,
    chat_body,
    chunks_of,
    sse_data,
    streamed_text,
)


def _stream(gateway: MainGateway, text: str = "stream me please", path: str = "/api/chat",
            **extra: object) -> requests.Response:
    response = gateway.post(path, chat_body(text, stream=True, **extra))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return response


def _usage_chunks(payloads: list[str]) -> list[dict]:
    return [c for c in chunks_of(payloads) if c.get("usage")]


def test_stream_is_openai_chunks_ending_with_done(gateway: MainGateway) -> None:
    payloads = sse_data(_stream(gateway, "four little words"))
    assert payloads[-1] == "[DONE]"
    assert payloads.count("[DONE]") == 1
    chunks = chunks_of(payloads)
    assert len(chunks) >= 3
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert streamed_text(payloads) == "echo: four little words"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_upstream_is_asked_for_usage_but_a_client_that_did_not_ask_never_sees_it(
        gateway: MainGateway) -> None:
    payloads = sse_data(_stream(gateway))
    sent = gateway.fake.last_request.body
    assert sent["stream"] is True
    assert sent["stream_options"]["include_usage"] is True
    assert _usage_chunks(payloads) == []
    assert all(c["choices"] for c in chunks_of(payloads))  # no usage-only chunk


def test_a_client_that_asks_for_usage_gets_the_usage_chunk(gateway: MainGateway) -> None:
    response = _stream(gateway, "count these", stream_options={"include_usage": True})
    usage = _usage_chunks(sse_data(response))
    assert len(usage) == 1
    assert usage[0]["choices"] == []
    assert usage[0]["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_streamed_log_row_has_upstream_usage_and_ttfb(gateway: MainGateway) -> None:
    response = _stream(gateway, "two words")
    sse_data(response)
    row = gateway.log_row(response)
    assert row["stream"] is True and row["status"] == 200 and row["error"] is None
    assert (row["prompt_tokens"], row["completion_tokens"]) == (2, 3)  # the fake's usage
    assert row["usage_estimated"] is False
    assert row["ttfb_ms"] is not None and 0 < row["ttfb_ms"] <= row["latency_ms"]


def test_stream_without_upstream_usage_is_estimated(gateway: MainGateway) -> None:
    gateway.fake.no_usage_in_stream()
    response = _stream(gateway, "no usage from upstream here",
                       stream_options={"include_usage": True})
    payloads = sse_data(response)
    assert payloads[-1] == "[DONE]"
    row = gateway.log_row(response)
    assert row["usage_estimated"] is True
    assert row["completion_tokens"] > 0 and row["prompt_tokens"] > 0


def test_v1_streaming_and_the_echo_provider(gateway: MainGateway) -> None:
    response = gateway.post("/v1/chat/completions",
                            {**chat_body("offline stream", stream=True), "model": "echo-chat"})
    assert response.status_code == 200
    payloads = sse_data(response)
    assert payloads[-1] == "[DONE]"
    assert streamed_text(payloads) == "echo: offline stream"
    assert gateway.log_row(response)["stream"] is True


def test_mid_stream_failure_becomes_one_error_event(gateway: MainGateway) -> None:
    gateway.fake.fail_mid_stream(after=2)
    response = _stream(gateway, "this stream will break")
    payloads = sse_data(response)
    assert "[DONE]" not in payloads
    errors = [json.loads(p) for p in payloads if '"error"' in p]
    assert len(errors) == 1, payloads
    assert json.loads(payloads[-1]) == errors[0]  # the error event is the last one
    error = errors[0]["error"]
    assert {"message", "type", "code"} <= set(error) and error["message"]
    assert len(chunks_of(payloads)) >= 2  # what came before the break was relayed
    row = gateway.log_row(response)
    assert row["status"] == 502 and row["stream"] is True and row["error"]


def test_upstream_stalling_mid_stream_past_its_timeout_becomes_an_error_event(
        gateway: MainGateway) -> None:
    gateway.fake.stream_delay(1.0)  # the "slow" provider's timeout is 0.5 s
    response = _stream(gateway, "stalls after the first chunk", path="/api/slow")
    payloads = sse_data(response)
    assert "[DONE]" not in payloads
    assert "error" in json.loads(payloads[-1])
    assert sum('"error"' in p for p in payloads) == 1
    row = gateway.log_row(response)
    assert row["status"] in {502, 504} and row["error"]


def test_client_disconnect_closes_the_upstream_stream_at_once(gateway: MainGateway) -> None:
    # A stream an earlier test left may still be ending on the shared fake: its abort must
    # not be counted as this one's.
    gateway.fake.wait_until(lambda f: f.open_streams == 0, timeout=3)
    gateway.fake.clear()
    gateway.fake.stream_delay(0.5)
    response = gateway.post("/api/chat", chat_body("a slow stream", stream=True), stream=True)
    assert response.status_code == 200
    first = next(response.iter_content(chunk_size=None))
    assert first.startswith(b"data: ")
    request_id = response.headers["X-Request-ID"]
    hung_up = time.monotonic()
    response.close()
    assert gateway.fake.wait_until(lambda f: f.streams_aborted == 1, timeout=1.5), \
        "the upstream stream was not closed when the client left"
    assert time.monotonic() - hung_up < 1.5
    assert gateway.fake.streams_completed == 0
    row = gateway.appliance.log_row(request_id)
    assert row["status"] == 499
    assert "disconnect" in row["error"]
    assert row["stream"] is True


def test_client_leaving_before_the_first_upstream_byte_ends_the_upstream_request(
        gateway: MainGateway) -> None:
    """The upstream is slow to start (3 s); the client gives up after 0.5 s. The proxy
    should stop waiting on the upstream then, not hold it until it answers."""
    gateway.fake.set_delay(3)
    with pytest.raises(requests.Timeout):
        gateway.post("/api/chat", chat_body("never mind", stream=True), timeout=0.5,
                     headers={"X-Request-ID": "left-early"})
    row = gateway.appliance.log_row("left-early", timeout=6)
    assert row["status"] == 499 and "disconnect" in row["error"]
    gateway.fake.wait_until(lambda f: f.open_streams == 0, timeout=3)  # settle for the next
    assert row["latency_ms"] < 1500, "the upstream request was held after the client left"


def test_a_client_leaving_a_slow_whole_answer_ends_the_upstream_request(
        gateway: MainGateway) -> None:
    """Not streamed: the upstream takes 3 s, the client gives up after 1 s. The upstream
    request is closed then (a self-hosted server stops generating), the row says 499."""
    gateway.fake.set_delay(3)
    with pytest.raises(requests.Timeout):
        gateway.post("/api/chat", chat_body("never mind"), timeout=1,
                     headers={"X-Request-ID": "left-whole"})
    assert gateway.fake.wait_until(lambda f: f.requests_abandoned == 1, timeout=1.5), \
        "the upstream request was held after the client left"
    row = gateway.appliance.log_row("left-whole", timeout=6)
    assert row["status"] == 499 and "disconnect" in row["error"]
    assert row["stream"] is False and row["latency_ms"] < 2000


def test_a_quick_whole_answer_is_not_disturbed_by_the_client_watch(
        gateway: MainGateway) -> None:
    """Answers slower than the watch's start (0.5 s) but received are served as usual,
    and the connection serves the next request."""
    gateway.fake.set_delay(0.8)
    with requests.Session() as session:
        for _ in range(2):
            response = session.post(gateway.url + "/api/chat", json=chat_body("patience"),
                                    headers=gateway.headers("all"), timeout=10)
            assert response.status_code == 200, response.text
            assert response.json()["choices"][0]["message"]["content"] == "echo: patience"
    assert gateway.fake.requests_abandoned == 0
