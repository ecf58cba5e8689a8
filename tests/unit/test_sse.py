"""The SSE event splitter (server/providers/sse.py) on bytes: boundaries, line endings,
pieces of any size, the cap on one event, and the data of an event."""

from __future__ import annotations

import pytest

from server.providers.sse import EventSplitter, EventTooLarge, data_of


def split(*pieces: bytes, cap: int = 1 << 20) -> list[bytes]:
    splitter = EventSplitter(cap)
    events = [event for piece in pieces for event in splitter.feed(piece)]
    return events + splitter.end()


def test_events_end_at_a_blank_line_and_come_out_as_soon_as_they_are_whole() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: 1\n\ndata: 2\n") == [b"data: 1\n\n"]
    assert splitter.feed(b"\n") == [b"data: 2\n\n"]
    assert splitter.feed(b": keep-alive\n\ndata: [DONE]\n\n") == [b": keep-alive\n\n",
                                                                   b"data: [DONE]\n\n"]
    assert splitter.end() == []


@pytest.mark.parametrize("stream", [b"data: 1\r\n\r\ndata: 2\r\n\r\n", b"data: 1\r\rdata: 2\r\r",
                                    b"data: 1\n\r\ndata: 2\r\n\n"])
def test_crlf_and_lone_cr_end_lines_too(stream: bytes) -> None:
    assert split(stream) == [b"data: 1\n\n", b"data: 2\n\n"]
    assert split(*(stream[i:i + 1] for i in range(len(stream)))) == [b"data: 1\n\n",
                                                                    b"data: 2\n\n"]


def test_blank_lines_between_events_make_no_empty_events() -> None:
    assert split(b"\n\n\ndata: 1\n\n\n\n\ndata: 2\n\n\n") == [b"data: 1\n\n", b"data: 2\n\n"]


def test_a_last_event_without_its_blank_line_comes_out_at_the_end() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: 1\n\ndata: {\"last\": true}") == [b"data: 1\n\n"]
    assert splitter.end() == [b"data: {\"last\": true}\n\n"]


def test_an_event_past_the_cap_raises_while_it_is_still_arriving() -> None:
    splitter = EventSplitter(max_event_bytes=100)
    assert splitter.feed(b"data: " + b"x" * 90 + b"\n\n") == [b"data: " + b"x" * 90 + b"\n\n"]
    splitter.feed(b"data: " + b"x" * 50)
    with pytest.raises(EventTooLarge, match="larger than 100 bytes"):
        splitter.feed(b"x" * 50)


def test_a_whole_event_past_the_cap_in_one_piece_raises() -> None:
    with pytest.raises(EventTooLarge):
        EventSplitter(max_event_bytes=10).feed(b"data: 0123456789\n\n")


def test_data_of_an_event() -> None:
    assert data_of(b'data: {"a": 1}\n\n') == b'{"a": 1}'
    assert data_of(b"event: x\nid: 7\ndata: one\ndata:two\ndata\n\n") == b"one\ntwo\n"
    assert data_of(b": a comment\n\n") is None
    assert data_of(b"event: ping\n\n") is None
    assert data_of(b"data: [DONE]\n\n") == b"[DONE]"
