"""Whatever a chat client or a chat provider sends, the chat codec fails only as it says:
DialectError for a request, UpstreamShapeError for an answer or a stream event; and every
stream it writes is well-formed SSE whose data lines parse as JSON."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.dialects import chat
from server.dialects.model import (
    DialectError,
    Ended,
    Reply,
    Started,
    Stopped,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCall,
    ToolCallStarted,
    UpstreamShapeError,
    Usage,
    UsageSeen,
)
from server.providers.sse import EventSplitter, data_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dialects" / "chat"
REQUESTS = [json.loads((FIXTURES / n).read_text())
            for n in ("request_agent.json", "request_vision.json")]
REPLIES = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("reply_*.json"))]
CHUNKS = [json.loads(d) for p in sorted(FIXTURES.glob("stream_*.sse"))
          for d in map(data_of, EventSplitter().feed(p.read_bytes()))
          if d is not None and d != b"[DONE]"]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20)
TEXT = st.text(max_size=20)
COUNT = st.integers(min_value=0, max_value=10**6)


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (its keys and list positions)."""
    found = [at]
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        found += paths(inner, (*at, key))
    return found


@st.composite
def mutated(draw: st.DrawFn, originals: list[Any]) -> Any:
    """A fixture with one value somewhere in it replaced by arbitrary JSON (or removed)."""
    value = copy.deepcopy(draw(st.sampled_from(originals)))
    path = draw(st.sampled_from(paths(value)))
    if not path:
        return draw(JSON)
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON)
    return value


@given(JSON | mutated(REQUESTS))
def test_any_request_reads_or_is_a_dialect_error(body: Any) -> None:
    try:
        request = chat.read_request(body)
    except DialectError as exc:
        assert exc.field
        return
    json.dumps(chat.write_request(request, "upstream"))  # what reads, writes


@given(JSON | mutated(REPLIES))
def test_any_answer_reads_or_is_an_upstream_shape_error(answer: Any) -> None:
    usage = chat.usage_of(answer)
    assert usage is None or usage.cached <= usage.input
    try:
        reply = chat.read_reply(answer)
    except UpstreamShapeError:
        return
    json.dumps(chat.write_reply(reply, "m", {"model": "client"}))


DATA = (mutated(CHUNKS).map(lambda c: json.dumps(c).encode())
        | JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=40)
        | st.just(b"[DONE]"))


@given(st.lists(DATA, max_size=8))
def test_any_event_sequence_reads_or_is_an_upstream_shape_error(datas: list[bytes]) -> None:
    reader = chat.StreamReader()
    try:
        for data in datas:
            assert isinstance(reader.read(data), list)
    except UpstreamShapeError:
        pass


USAGE = st.builds(Usage, COUNT, COUNT, COUNT, COUNT, COUNT)
INDEX = st.integers(min_value=0, max_value=3)
EVENT = st.one_of(
    st.builds(Started, TEXT, TEXT), st.builds(TextDelta, TEXT),
    st.builds(ThinkingDelta, TEXT, st.none() | TEXT),
    st.builds(ToolCallStarted, INDEX, TEXT, TEXT),
    st.builds(ToolArgumentsDelta, INDEX, TEXT),
    st.builds(Stopped, st.sampled_from(["end", "length", "tool_use", "stop_sequence",
                                        "refusal"])),
    st.builds(UsageSeen, USAGE), st.builds(Ended))
BODY = st.fixed_dictionaries({}, optional={
    "model": JSON, "stream_options": st.fixed_dictionaries({}, optional={
        "include_usage": JSON})}) | JSON


def sse_datas(raw: bytes) -> list[bytes]:
    """The data of each event, checking each is one `data:` line ending in a blank line."""
    assert raw.endswith(b"\n\n")
    out = []
    for event in raw[:-2].split(b"\n\n"):
        assert event.startswith(b"data: ") and b"\n" not in event
        out.append(event[len(b"data: "):])
    return out


@given(st.lists(EVENT, max_size=12), BODY, USAGE, st.booleans())
def test_any_event_sequence_is_written_as_well_formed_sse(events: list[Any], body: Any,
                                                          usage: Usage, fails: bool) -> None:
    writer = chat.StreamWriter("upstream", body)
    raw = b"".join(writer.write(e) for e in events)
    raw += writer.fail("boom", "upstream_error") if fails else writer.end(usage)
    datas = sse_datas(raw)
    assert fails or datas[-1] == b"[DONE]"
    for data in datas:
        if data != b"[DONE]":
            assert isinstance(json.loads(data), dict)


NAME = st.text(min_size=1, max_size=20)
PARTS = st.lists(st.one_of(st.builds(Text, TEXT), st.builds(Thinking, TEXT),
                           st.builds(ToolCall, NAME, NAME, NAME)), max_size=4)
STOPS = st.sampled_from(["end", "length", "tool_use", "stop_sequence", "refusal"])


# Usage as a chat answer can carry it: cached within input, reasoning within output.
CHAT_USAGE = st.builds(lambda i, o, c, r: Usage(i + c, o + r, cached=c, reasoning=r),
                       COUNT, COUNT, COUNT, COUNT)


@given(st.builds(Reply, TEXT, TEXT, PARTS, STOPS, st.none(), st.none() | CHAT_USAGE), BODY)
def test_any_reply_is_written_as_a_chat_answer_that_reads_back(reply: Reply, body: Any) -> None:
    answer = json.loads(json.dumps(chat.write_reply(reply, "m", body)))
    again = chat.read_reply(answer)
    calls = [p for p in reply.parts if isinstance(p, ToolCall)]
    assert [p for p in again.parts if isinstance(p, ToolCall)] == calls
    assert again.usage == reply.usage
