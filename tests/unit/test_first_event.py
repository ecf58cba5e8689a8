"""A stream held until its first data event (server/client_api/first_event.py): relayed
unchanged where that event is no retryable error; an UpstreamError with the status it
stands for, and the stream closed, where it is one or where the stream ends before it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from server.client_api.first_event import MAX_HELD, held_to_first_data
from server.providers import Stream, UpstreamError
from server.providers.base import ProviderConfig

KEY = "sk-first-event-secret-1234"
COMMENT = b": OPENROUTER PROCESSING\n\n"


class ListStream(Stream):
    """The events given, `gap_s` apart, counting how many were taken; one iterator."""

    def __init__(self, events: list[bytes], gap_s: float = 0) -> None:
        self.events, self.gap_s = events, gap_s
        self.taken = 0
        self.closed = False
        self._iterator = self._iterate()

    def _iterate(self) -> Iterator[bytes]:
        for event in self.events:
            if self.gap_s:
                time.sleep(self.gap_s)
            self.taken += 1
            yield event

    def __iter__(self) -> Iterator[bytes]:
        return self._iterator

    def close(self) -> None:
        self.closed = True


class Provider:
    config = ProviderConfig(1, "p", "openai_compatible", "http://x", KEY, timeout_s=60)


def sse(payload: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(payload).encode() + b"\n\n"


CHUNK = sse({"choices": [{"delta": {"content": "hi"}}]})
DONE = b"data: [DONE]\n\n"


def held(events: list[bytes], dialect: str = "chat", **kwargs: Any) -> tuple[ListStream,
                                                                              Stream]:
    stream = ListStream(events, **kwargs)
    return stream, held_to_first_data(stream, dialect, Provider(), time.monotonic())


def test_a_normal_stream_is_read_no_further_than_its_first_event_and_relayed_whole() -> None:
    stream, out = held([COMMENT, CHUNK, CHUNK, DONE])
    assert stream.taken == 2 and not stream.closed
    assert list(out) == [COMMENT, CHUNK, CHUNK, DONE]
    out.close()
    assert stream.closed


@pytest.mark.parametrize(("dialect", "event", "status"), [
    ("chat", sse({"error": {"code": 502, "message": f"upstream failed {KEY}"}}), 502),
    ("chat", sse({"error": {"type": "rate_limit_error", "message": "slow down"}}), 429),
    ("messages", sse({"type": "error", "error": {"type": "overloaded_error",
                                                 "message": "Overloaded"}}, "error"), 529),
    ("responses", sse({"type": "response.failed", "response": {
        "error": {"code": "server_error", "message": "failed"}}}), 500),
])
def test_a_retryable_error_first_is_the_targets_failure(dialect: str, event: bytes,
                                                        status: int) -> None:
    stream = ListStream([COMMENT, COMMENT, event, CHUNK])
    with pytest.raises(UpstreamError) as failed:
        held_to_first_data(stream, dialect, Provider(), time.monotonic())
    assert failed.value.status == status and "began with an error" in failed.value.message
    assert KEY not in failed.value.message
    assert stream.closed and stream.taken == 3


@pytest.mark.parametrize("event", [
    sse({"error": {"type": "invalid_request_error", "message": "too long"}}),
    sse({"error": "no kind said"}),
    b"data: not json\n\n",
])
def test_an_error_of_the_clients_or_of_no_known_kind_goes_to_the_relay(event: bytes) -> None:
    stream, out = held([event, DONE])
    assert list(out) == [event, DONE] and not stream.closed


def test_a_stream_that_ends_before_any_data_is_a_failure() -> None:
    stream = ListStream([COMMENT])
    with pytest.raises(UpstreamError, match="ended before its answer began"):
        held_to_first_data(stream, "chat", Provider(), time.monotonic())
    assert stream.closed


def test_comments_past_the_timeout_stop_the_holding() -> None:
    error = sse({"error": {"code": 503, "message": "late"}})
    stream = ListStream([COMMENT, COMMENT, COMMENT, error])
    out = held_to_first_data(stream, "chat", Provider(), time.monotonic() - 61)
    assert stream.taken == 1  # its timeout (60 s) had passed: relayed from then on
    assert list(out) == [COMMENT, COMMENT, COMMENT, error]


def test_a_failure_of_the_stream_before_data_closes_it() -> None:
    class Broken(ListStream):
        def _iterate(self) -> Iterator[bytes]:
            yield COMMENT
            raise UpstreamError("the upstream stream broke (ProtocolError)")

    stream = Broken([])
    with pytest.raises(UpstreamError, match="broke"):
        held_to_first_data(stream, "chat", Provider(), time.monotonic())
    assert stream.closed


def test_the_events_that_only_open_an_answer_are_held_too() -> None:
    opening = [sse({"type": "message_start", "message": {"content": []}}, "message_start"),
               sse({"type": "ping"}, "ping")]
    delta = sse({"type": "content_block_delta", "delta": {"text": "hi"}},
                "content_block_delta")
    stream, out = held([*opening, delta, delta], "messages")
    assert stream.taken == 3 and list(out) == [*opening, delta, delta]
    overloaded = sse({"type": "error", "error": {"type": "overloaded_error"}}, "error")
    with pytest.raises(UpstreamError) as failed:
        held([*opening, overloaded], "messages")
    assert failed.value.status == 529


def test_no_more_than_max_held_events_are_held() -> None:
    ping = sse({"type": "ping"}, "ping")
    delta = sse({"type": "content_block_delta", "delta": {"text": "hi"}})
    stream, out = held([ping] * (MAX_HELD + 5) + [delta], "messages")
    assert stream.taken == MAX_HELD
    assert len(list(out)) == MAX_HELD + 6


def test_a_chat_stream_is_held_no_further_than_its_role_chunk() -> None:
    role = sse({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
    stream, out = held([role, sse({"error": {"code": 502}})])
    assert stream.taken == 1 and len(list(out)) == 2  # the error: relayed, as before
