"""Anthropic Messages streams (server/dialects/messages_stream.py): the documented streams
read into events; events written as a stream the official SDK accumulates into the
message they describe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message as SdkMessage

from server.dialects.messages_stream import StreamReader, StreamWriter
from server.dialects.model import (
    Ended,
    Event,
    Started,
    Stopped,
    TextDelta,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCallStarted,
    UpstreamShapeError,
    Usage,
    UsageSeen,
)
from server.providers.sse import EventSplitter, data_of

FIXTURES = Path(__file__).parents[2] / "fixtures" / "dialects" / "messages"


def sse_events(raw: bytes) -> list[bytes]:
    splitter = EventSplitter()
    return splitter.feed(raw) + splitter.end()


def read(name: str) -> list[Event]:
    reader = StreamReader()
    return [e for event in sse_events((FIXTURES / name).read_bytes())
            for e in reader.read(data_of(event) or b"")]


def parsed(raw: bytes) -> list[dict[str, Any]]:
    """The events of a written stream, checked: `event:` names the data's type."""
    out = []
    for event in sse_events(raw):
        name, data = event.decode().rstrip("\n").split("\n")
        assert name.startswith("event: ") and data.startswith("data: ")
        out.append(json.loads(data[6:]))
        assert out[-1]["type"] == name[7:]
    return out


def accumulated(raw: bytes) -> SdkMessage:
    snapshot, buffers = None, {}
    for event in parsed(raw):
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot is not None
    return snapshot


def written(events: list[Event], usage: Usage, body: Any = None) -> bytes:
    writer = StreamWriter("up-model", body if body is not None else {"model": "claude-alias"})
    return b"".join(writer.write(e) for e in events) + writer.end(usage)


# --- reading ---------------------------------------------------------------------------


def test_the_documented_text_stream_is_read() -> None:
    assert read("stream_text.sse") == [
        Started("msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "claude-sonnet-4-5-20250929",
                Usage(input=25, output=1)),
        TextDelta("Hello"), TextDelta("!"), Stopped("end"),
        UsageSeen(Usage(input=25, output=15)), Ended()]


def test_the_documented_tool_stream_is_read_with_cache_tokens_in_input() -> None:
    events = read("stream_tool_use.sse")
    assert events[0].usage == Usage(input=2572, output=2, cached=2000, cache_write=100)
    assert events[3] == ToolCallStarted(1, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather")
    arguments = "".join(e.text for e in events if isinstance(e, ToolArgumentsDelta))
    assert json.loads(arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert events[-3:] == [Stopped("tool_use"),
                           UsageSeen(Usage(input=2572, output=89, cached=2000, cache_write=100)),
                           Ended()]


def test_the_documented_thinking_stream_is_read_with_its_signature() -> None:
    events = read("stream_thinking.sse")
    thinking = [e for e in events if isinstance(e, ThinkingDelta)]
    assert "".join(e.text for e in thinking).startswith("Let me solve this step by step")
    assert thinking[-1] == ThinkingDelta(
        signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...")
    assert TextDelta("27 * 453 = 12,231") in events


def test_an_overloaded_error_event_is_an_upstream_shape_error_with_its_message() -> None:
    with pytest.raises(UpstreamShapeError, match=r"^Overloaded$"):
        read("stream_overloaded.sse")


def test_unknown_events_and_blocks_are_skipped_and_usage_merges() -> None:
    reader = StreamReader()
    reader.read(b'{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":9}}}')
    assert reader.read(b'{"type":"brand_new_event"}') == []
    assert reader.read(b'{"type":"content_block_start","index":0,'
                       b'"content_block":{"type":"server_tool_use","id":"s","name":"w"}}') == []
    assert reader.read(b'{"type":"content_block_delta","index":0,'
                       b'"delta":{"type":"input_json_delta","partial_json":"{}"}}') == []
    assert reader.read(b'{"type":"message_delta","delta":{"stop_reason":"max_tokens"},'
                       b'"usage":{"output_tokens":4,"cache_read_input_tokens":5}}') == [
        Stopped("length"), UsageSeen(Usage(input=14, output=4, cached=5))]


@pytest.mark.parametrize("data", [b"not json", b"[1]", b'{"type":"message_start"}',
                                  b'{"type":"content_block_delta","index":"0","delta":{}}',
                                  b'{"type":"message_delta","usage":{"output_tokens":-2}}',
                                  b"\xff\xfe"])
def test_malformed_events_are_upstream_shape_errors(data: bytes) -> None:
    with pytest.raises(UpstreamShapeError):
        StreamReader().read(data)


# --- writing ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_use.sse",
                                  "stream_thinking.sse"])
def test_a_read_stream_written_again_accumulates_to_the_same_message(name: str) -> None:
    events = read(name)
    usage = next(e.usage for e in reversed(events) if isinstance(e, UsageSeen))
    message = accumulated(written(events, usage))
    raw = (FIXTURES / name).read_bytes()
    original = accumulated(raw)
    assert message.id == original.id and message.model == "claude-alias"
    assert [b.to_dict() for b in message.content] == [
        b.to_dict() | ({"signature": ""} if b.type == "thinking" and not
                       getattr(b, "signature", None) else {}) for b in original.content]
    assert message.stop_reason == original.stop_reason
    assert message.usage.output_tokens == original.usage.output_tokens


def test_each_kind_of_event_gets_its_own_block_and_usage_comes_last() -> None:
    raw = written([Started("chatcmpl-1", "gpt"), TextDelta(""), ThinkingDelta("plan"),
                   TextDelta("Hi"), TextDelta(" there"),
                   ToolCallStarted(0, "call_a", "f"), ToolArgumentsDelta(0, '{"x":'),
                   ToolArgumentsDelta(0, "1}"), Stopped("tool_use"),
                   UsageSeen(Usage(input=50, output=9)), Ended()],
                  Usage(input=50, output=9, cached=20, cache_write=5))
    events = parsed(raw)
    assert [e["type"] for e in events[:2]] == ["message_start", "ping"]
    starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use"]
    assert events[-2]["usage"] == {"output_tokens": 9, "input_tokens": 25,
                                   "cache_read_input_tokens": 20, "cache_creation_input_tokens": 5}
    message = accumulated(raw)
    assert message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[1].text == "Hi there" and message.content[2].input == {"x": 1}
    assert message.stop_reason == "tool_use"


def test_interleaved_tool_arguments_never_mix() -> None:
    raw = written([ToolCallStarted(0, "call_a", "f"), ToolArgumentsDelta(0, '{"a":'),
                   ToolCallStarted(1, "call_b", "g"), ToolArgumentsDelta(1, '{"b":'),
                   ToolArgumentsDelta(0, "1}"), ToolArgumentsDelta(1, "2}"),
                   Stopped("tool_use")], Usage())
    message = accumulated(raw)
    assert [(b.id, b.name, b.input) for b in message.content] == [
        ("call_a", "f", {"a": 1}), ("call_b", "g", {"b": 2})]


def test_a_stream_with_nothing_in_it_is_still_a_message() -> None:
    message = accumulated(written([], Usage(input=3), body={}))
    assert message.content == [] and message.model == "up-model"
    assert message.stop_reason == "end_turn" and message.usage.input_tokens == 3


def test_a_stop_sequence_is_given_back() -> None:
    events = parsed(written([TextDelta("a"), Stopped("stop_sequence", "END")], Usage()))
    assert events[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


@pytest.mark.parametrize(("code", "kind"), [("upstream_overloaded", "overloaded_error"),
                                            ("upstream_error", "api_error"),
                                            ("rate_limited", "rate_limit_error")])
def test_a_failure_is_an_error_event(code: str, kind: str) -> None:
    (event,) = parsed(StreamWriter("m", {}).fail("the provider went away", code))
    assert event == {"type": "error", "error": {"type": kind,
                                                "message": "the provider went away"}}


def test_lone_surrogates_still_make_valid_utf8() -> None:
    raw = written([TextDelta("bad \ud800 text")], Usage())
    raw.decode("utf-8")
    assert accumulated(raw).content[0].text == "bad \ud800 text"
