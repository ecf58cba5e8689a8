"""Fuzzing the SSE event splitter (server/providers/sse.py), under the bounded profile of
tests/fuzz/conftest.py: however a stream is cut into pieces it gives the same events;
arbitrary bytes raise nothing but EventTooLarge; the cap on one event holds."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from server.providers.sse import EventSplitter, EventTooLarge, data_of

CAP = 4096

# Events as providers send them: data lines of JSON, comments, other fields.
json_data = st.dictionaries(st.text(max_size=8), st.text(max_size=40) | st.integers(),
                            max_size=4).map(lambda d: b"data: " + json.dumps(d).encode())
line = json_data | st.sampled_from([b": keep-alive", b"event: message", b"id: 42",
                                    b"data: [DONE]", b"retry: 1000", b"data"])
event = st.lists(line, min_size=1, max_size=4)
newline = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A valid stream with mixed line endings, and the events it holds ("\\n" endings)."""
    raw, expected = b"", []
    for lines in draw(st.lists(event, max_size=12)):
        nl = draw(newline)  # one kind per event: "\r" then "\n" would be one CRLF
        raw += b"".join(text + nl for text in lines)
        raw += nl * draw(st.integers(1, 3))  # the blank line, and maybe more
        expected.append(b"\n".join(lines) + b"\n\n")
    return raw, expected


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(marks)]


def split(pieces: list[bytes], cap: int = CAP) -> list[bytes]:
    splitter = EventSplitter(cap)
    return [e for piece in pieces for e in splitter.feed(piece)] + splitter.end()


@given(streams(), st.lists(st.integers(min_value=0), max_size=40))
def test_any_cut_of_a_stream_gives_its_events(stream: tuple[bytes, list[bytes]],
                                              points: list[int]) -> None:
    raw, expected = stream
    assert split([raw]) == expected
    assert split(cut(raw, points)) == expected


@given(streams())
def test_byte_by_byte_gives_the_same_events(stream: tuple[bytes, list[bytes]]) -> None:
    raw, expected = stream
    assert split([raw[i:i + 1] for i in range(len(raw))]) == expected


@given(st.lists(st.binary(max_size=600), max_size=30), st.integers(8, 2048))
def test_arbitrary_bytes_raise_only_event_too_large_and_the_cap_holds(
        pieces: list[bytes], cap: int) -> None:
    splitter = EventSplitter(cap)
    try:
        for piece in pieces:
            for got in splitter.feed(piece):
                assert len(got) <= cap + 2 and got.endswith(b"\n\n")
                assert b"\r" not in got and b"\n\n" not in got[:-2]
                data_of(got)  # never raises either
            assert len(splitter._buffer) <= cap + 1  # held while an event arrives
        for got in splitter.end():
            assert len(got) <= cap + 2
    except EventTooLarge as exc:
        assert exc.limit == cap


@given(st.binary(max_size=3000), st.lists(st.integers(min_value=0), max_size=20))
def test_arbitrary_bytes_cut_anyhow_give_the_same_events_or_the_same_error(
        data: bytes, points: list[int]) -> None:
    def outcome(pieces: list[bytes]) -> object:
        try:
            return split(pieces, cap=512)
        except EventTooLarge:
            return "too large"

    assert outcome(cut(data, points)) == outcome([data])
