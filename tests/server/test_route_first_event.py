"""A provider that answers a stream with 200 and then fails before any of its answer (in
its first data event, or after the events that only open an answer, as OpenRouter, vLLM,
OpenAI or Anthropic do when they can no longer send a status): its target's failure like
the status the error stands for, so the next target is tried; never once a part of the
answer was relayed, nor for an error that is the client's fault."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from tests.server.route_fixtures import Routed
from tests.server.route_fixtures import _routed as _routed
from tests.server.route_fixtures import routed as routed

pytestmark = pytest.mark.usefixtures("routed")
COMMENT = ": OPENROUTER PROCESSING"


def _fell_back(routed: Routed, response: requests.Response, endpoint: str,
               first_status: int) -> dict[str, Any]:
    """The row of a request the second target answered after the first failed with
    `first_status`; both attempts in its attempt_log."""
    assert response.status_code == 200, response.text
    row = routed.row(response)
    first, second = routed.target_ids(endpoint)
    assert (row["status"], row["attempts"], row["target_id"]) == (200, 2, second)
    log = row["attempt_log"]
    assert [(a["target_id"], a["status"]) for a in log] == [(first, first_status),
                                                            (second, 200)]
    assert "began with an error" in log[0]["error"] and log[1]["error"] is None
    assert len(routed.second.requests) == 1
    assert COMMENT not in response.text  # the failed attempt's comments went nowhere
    return row


def _data(response: requests.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


def _content(response: requests.Response) -> str:
    chunks = [json.loads(d) for d in _data(response) if d != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c.get("choices"))


def test_a_chat_stream_failing_in_its_first_event_falls_back(routed: Routed) -> None:
    response = routed.chat("first-error", "hello", stream=True)
    assert response.text.rstrip().endswith("data: [DONE]")
    assert _content(response) == "echo: hello" and '"error"' not in response.text
    row = _fell_back(routed, response, "first-error", 502)  # OpenRouter's code: 502
    assert "Provider returned error" in row["attempt_log"][0]["error"]
    assert routed.first.requests[-1].path.startswith("/fault/error_first/")


def test_keep_alive_comments_before_the_error_are_not_an_answer(routed: Routed) -> None:
    response = routed.chat("first-error-comments", "hello", stream=True)
    assert _content(response) == "echo: hello"
    _fell_back(routed, response, "first-error-comments", 502)


def test_a_messages_stream_whose_anthropic_target_is_overloaded_falls_back(
        routed: Routed) -> None:
    response = routed.post("/v1/messages", {
        "model": "first-error-claude", "max_tokens": 50, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]})
    assert "event: message_stop" in response.text and "event: error" not in response.text
    row = _fell_back(routed, response, "first-error-claude", 529)  # overloaded_error
    assert (row["client_dialect"], row["provider_dialect"]) == ("messages", "chat")
    assert routed.first.requests[-1].path.endswith("/messages")


def test_a_responses_stream_whose_first_event_is_response_failed_falls_back(
        routed: Routed) -> None:
    response = routed.post("/v1/responses", {"model": "first-error-oai", "input": "hi",
                                             "stream": True})
    assert "response.completed" in response.text and "response.failed" not in response.text
    row = _fell_back(routed, response, "first-error-oai", 500)  # code server_error
    assert (row["client_dialect"], row["provider_dialect"]) == ("responses", "chat")


@pytest.mark.parametrize(("path", "endpoint", "status", "done"), [
    ("/v1/messages", "opened-error-claude", 529, "event: message_stop"),  # message_start, ping
    ("/v1/responses", "opened-error-oai", 500, "response.completed"),  # created, in_progress
])
def test_an_error_after_the_events_that_only_open_an_answer_falls_back(
        routed: Routed, path: str, endpoint: str, status: int, done: str) -> None:
    """The recorded shapes: a provider opens its answer, then fails before any of it."""
    body: dict[str, Any] = {"model": endpoint, "stream": True}
    if path.endswith("responses"):
        body["input"] = "hello"
    else:
        body |= {"max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
    response = routed.post(path, body)
    assert done in response.text
    assert not any(failure in response.text for failure in (
        "Provider returned error", "event: error", "response.failed"))
    _fell_back(routed, response, endpoint, status)


def test_when_every_target_fails_in_its_first_event_the_last_failure_is_the_answer(
        routed: Routed) -> None:
    """An HTTP error the client's SDK retries, as for the statuses the errors stand for:
    the last target was an overloaded Anthropic (529: 503 with Retry-After)."""
    response = routed.chat("first-error-all", stream=True)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "upstream_overloaded"
    assert response.headers["Retry-After"] == "1"
    row = routed.row(response)
    assert (row["status"], row["attempts"]) == (503, 2)
    assert [a["status"] for a in row["attempt_log"]] == [502, 529]


def test_an_error_that_is_the_clients_fault_is_not_retried(routed: Routed) -> None:
    response = routed.chat("first-error-client", stream=True)
    assert response.status_code == 200  # as before: the stream, ended by one error event
    events = _data(response)
    assert len(events) == 1 and "maximum context length" in json.loads(events[0])[
        "error"]["message"]
    assert routed.second.requests == []
    row = routed.row(response)
    assert (row["status"], row["attempts"], row["attempt_log"]) == (502, 1, None)


def test_an_error_after_the_first_data_event_is_not_retried(routed: Routed) -> None:
    response = routed.chat("later-error", stream=True)
    assert response.status_code == 200
    events = _data(response)
    assert '"role"' in events[0] and "overloaded" in json.loads(events[-1])["error"][
        "message"] and "[DONE]" not in response.text
    assert routed.second.requests == []
    row = routed.row(response)
    assert (row["status"], row["attempts"]) == (502, 1)


def test_comments_before_an_answer_are_relayed_unchanged(routed: Routed) -> None:
    response = routed.chat("comments-first", "hello", stream=True)
    assert response.status_code == 200
    assert response.text.startswith(f"{COMMENT}\n\n{COMMENT}\n\ndata: ")
    assert _content(response) == "echo: hello"
    assert response.text.rstrip().endswith("data: [DONE]")
    assert routed.second.requests == [] and routed.row(response)["attempts"] == 1


def test_comments_past_the_providers_timeout_are_relayed_from_then_on(
        routed: Routed) -> None:
    """Ten comments 0.15 s apart, each within the provider's 0.5 s timeout, the first
    data event at ~1.5 s: the headers are held no longer than about that timeout, and
    the slow answer is relayed, not failed."""
    routed.first.stream_delay(0.15)
    started = time.monotonic()
    with routed.post_streaming("/v1/chat/completions", {
            "model": "comments-slow", "stream": True,
            "messages": [{"role": "user", "content": "slow"}]}) as response:
        headers_after = time.monotonic() - started
        text = response.content.decode()
    assert response.status_code == 200
    assert headers_after < 1.2, headers_after
    assert text.count(COMMENT) == 10 and text.rstrip().endswith("data: [DONE]")
    assert routed.second.requests == [] and routed.row(response)["attempts"] == 1
