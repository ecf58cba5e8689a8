"""StreamRelay (server/client_api/relay.py) over an in-memory stream: where it stops, what it
finishes before the client sees the end, which chunks it lets through and how it counts
their text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge

from server.client_api.call import Call
from server.client_api.relay import StreamRelay, stream_chunk, text_chars
from server.providers import Stream, UpstreamError

DONE = b"data: [DONE]\n\n"
BODY = {"messages": [{"role": "user", "content": "hi"}], "stream": True}


class ListStream(Stream):
    """The events given, counting how many were taken and whether it was closed."""

    def __init__(self, events: list[bytes]) -> None:
        self.events = events
        self.taken = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for event in self.events:
            self.taken += 1
            yield event

    def close(self) -> None:
        self.closed = True


def sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def content(text: Any) -> bytes:
    return sse({"choices": [{"index": 0, "delta": {"content": text}}]})


def relay(events: list[bytes], api_key: str | None = None
          ) -> tuple[Call, ListStream, list[bytes], list[int]]:
    """Relay `events`; what the client got, and how many events it had got each time the
    call was finished (quota settled, row written)."""
    call, stream, sent, finished = Call("req_1", "127.0.0.1", stream=True), \
        ListStream(events), [], []
    registry = CollectorRegistry()
    gauge = Gauge("open_streams", "", registry=registry)
    relayed = StreamRelay(call, stream, BODY, lambda _: finished.append(len(sent)), None,
                          gauge, api_key)
    for event in relayed:
        sent.append(event)
    relayed.close()
    assert registry.get_sample_value("open_streams") == 0
    return call, stream, sent, finished


def test_the_call_is_finished_before_the_client_gets_done() -> None:
    """A client may send its next request, to another server, on reading [DONE]: by then
    this request's quota is settled and its row written."""
    call, stream, sent, finished = relay([content("hello"), DONE])
    assert sent == [content("hello"), DONE]
    assert finished == [1]  # once, when the client had the content but not [DONE]
    assert (call.status, stream.closed) == (200, True)


def test_the_call_is_finished_before_the_client_gets_the_error_event() -> None:
    call, _, sent, finished = relay([content("hel")])  # no [DONE]: the stream broke off
    assert json.loads(sent[-1][6:])["error"]["message"] == \
        "the upstream stream ended before [DONE]"
    assert finished == [1] and call.status == 502


@pytest.mark.parametrize("after", [b": keep-alive\n\n", content("more"), b"garbage\n\n"])
def test_nothing_after_done_is_read(after: bytes) -> None:
    call, stream, sent, finished = relay([content("hello"), DONE, after])
    assert sent[-1] == DONE and len(sent) == 2
    assert (call.status, call.error) == (200, None)
    assert stream.taken == 2 and stream.closed and finished == [1]


def test_content_sent_as_a_list_of_parts_is_relayed_and_counted() -> None:
    parts = [{"type": "text", "text": "hello"}, {"type": "text", "text": " world"}]
    call, _, sent, _ = relay([content(parts), content([{"type": "image_url"}]), DONE])
    assert sent[-1] == DONE and call.status == 200
    assert (call.usage_estimated, call.completion_tokens) == (True, 3)  # (11 + 3) // 4


@pytest.mark.parametrize(("value", "chars"), [
    ("hello", 5), ([{"type": "text", "text": "ab"}, "cd", {"type": "image"}], 4),
    ([{"text": 3}], 0), (7, 0), ({"text": "x"}, 0), (None, 0),
])
def test_text_chars(value: Any, chars: int) -> None:
    assert text_chars(value) == chars


@pytest.mark.parametrize("chunk", [
    {"choices": [{"delta": "str"}]}, {"choices": ["a choice"]}, {"choices": {"0": {}}},
    {"choices": [{"delta": ["a", "list"]}]},
])
def test_choices_and_deltas_that_are_not_objects_are_refused(chunk: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError, match="wrong shape"):
        stream_chunk(json.dumps(chunk).encode())


@pytest.mark.parametrize("delta", [{"content": [{"type": "text", "text": "x"}]},
                                   {"content": 5}, {"content": None}, {}])
def test_any_content_in_an_object_delta_is_let_through(delta: dict[str, Any]) -> None:
    chunk = {"choices": [{"index": 0, "delta": delta}]}
    assert stream_chunk(json.dumps(chunk).encode()) == chunk


class BrokenStream(ListStream):
    def __iter__(self) -> Iterator[bytes]:
        yield content("a")
        raise RuntimeError("a bug in an adapter")


def test_a_bug_under_the_relay_is_an_internal_error_event_and_a_500_row(
        caplog: pytest.LogCaptureFixture) -> None:
    call, finished, stream = Call("req_1", "127.0.0.1", stream=True), [], BrokenStream([])
    gauge = Gauge("open_streams", "", registry=CollectorRegistry())
    relayed = StreamRelay(call, stream, BODY, finished.append, None, gauge)
    sent = list(relayed)
    relayed.close()
    assert json.loads(sent[-1][6:])["error"]["code"] == "internal_error"
    assert (call.status, finished, stream.closed) == (500, [call], True)
    assert "a bug in an adapter" in caplog.text  # its traceback, in the server's log


def test_the_providers_error_event_is_scrubbed_of_its_key() -> None:
    event = sse({"error": {"message": "bad key pk-0123456789abcdef, or sk-proj-abc12345"}})
    call, _, sent, _ = relay([content("a"), event], api_key="pk-0123456789abcdef")
    message = json.loads(sent[-1][6:])["error"]["message"]
    assert message == "the upstream stream failed: bad key ***, or sk-***"
    assert call.error == message and call.status == 502
