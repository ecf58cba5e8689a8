"""Reading a provider's own error event and the status it stands for
(server/dialects/stream_errors.py), on the shapes providers send."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.dialects.stream_errors import StreamError, opening_only, stream_error


def data(payload: Any) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize(("dialect", "payload", "expected"), [
    ("chat", {"error": {"code": 502, "message": "Provider returned error"}},
     StreamError("Provider returned error", 502)),  # OpenRouter, before any answer
    ("chat", {"error": {"message": "Rate limit", "type": None, "code": "429"}},
     StreamError("Rate limit", 429)),  # LiteLLM: the status as a string
    ("chat", {"object": "error", "message": "bad", "type": "BadRequestError", "code": 400},
     StreamError("bad", 400)),  # vLLM
    ("chat", {"error": {"message": "busy", "type": "server_error", "code": None}},
     StreamError("busy", 500)),  # OpenAI
    ("chat", {"error": {"message": "too long", "type": "invalid_request_error",
                        "code": "context_length_exceeded"}}, StreamError("too long", 400)),
    ("chat", {"error": "something broke"}, StreamError("something broke", None)),
    ("messages", {"type": "error", "error": {"type": "overloaded_error",
                                             "message": "Overloaded"}},
     StreamError("Overloaded", 529)),
    ("messages", {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
     StreamError("slow", 429)),
    ("messages", {"type": "error", "error": {"type": "api_error", "message": "oops"}},
     StreamError("oops", 500)),
    ("messages", {"type": "error", "error": {"type": "invalid_request_error",
                                             "message": "prompt is too long"}},
     StreamError("prompt is too long", 400)),
    ("messages", {"type": "error"}, StreamError("error", None)),
    ("responses", {"type": "response.failed", "response": {
        "error": {"code": "server_error", "message": "failed"}}}, StreamError("failed", 500)),
    ("responses", {"type": "response.failed", "response": {
        "error": {"code": "rate_limit_exceeded", "message": "slow"}}}, StreamError("slow", 429)),
    ("responses", {"type": "error", "code": "invalid_prompt", "message": "flagged"},
     StreamError("flagged", 400)),
    ("responses", {"type": "error", "error": {"type": "server_error", "message": "x"}},
     StreamError("x", 500)),
])
def test_a_providers_error_event_and_its_status(dialect: str, payload: dict,
                                                expected: StreamError) -> None:
    assert stream_error(dialect, data(payload)) == expected


@pytest.mark.parametrize(("dialect", "payload"), [
    ("chat", {"choices": [{"delta": {"content": "an error, said the model"}}]}),
    ("chat", {"error": None, "choices": []}),
    ("messages", {"type": "message_start", "message": {"content": [], "error": 1}}),
    ("messages", {"type": "content_block_delta", "delta": {"text": "failed"}}),
    ("responses", {"type": "response.created", "response": {"error": None}}),
    ("chat", "error"), ("messages", ["error"]),
])
def test_events_that_are_no_error(dialect: str, payload: Any) -> None:
    assert stream_error(dialect, data(payload)) is None


def test_data_that_is_not_json_is_left_to_the_relay() -> None:
    assert stream_error("chat", b'{"error": ') is None
    assert stream_error("chat", b"[" * 100_000 + b'"error"') is None  # too deep for json


def test_a_long_message_is_cut() -> None:
    found = stream_error("chat", data({"error": {"message": "x" * 5000, "code": 500}}))
    assert found is not None and len(found.message) == 500 and found.status == 500


@pytest.mark.parametrize(("dialect", "payload", "opens"), [
    ("chat", {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
     False),  # chat's first chunk is its answer's start
    ("messages", {"type": "message_start", "message": {}}, True),
    ("messages", {"type": "ping"}, True),
    ("messages", {"type": "content_block_start", "index": 0}, False),
    ("messages", {"type": ["ping"]}, False),
    ("responses", {"type": "response.created", "response": {}}, True),
    ("responses", {"type": "response.in_progress", "response": {}}, True),
    ("responses", {"type": "response.output_item.added"}, False),
    ("messages", ["ping"], False),
])
def test_events_that_only_open_an_answer(dialect: str, payload: Any, opens: bool) -> None:
    assert opening_only(dialect, data(payload)) is opens
