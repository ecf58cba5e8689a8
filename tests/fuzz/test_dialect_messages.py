"""Fuzzing the Anthropic Messages codec (server/dialects/messages*.py), under the bounded
profile of tests/fuzz/conftest.py: arbitrary JSON and mutated fixtures raise only
DialectError / UpstreamShapeError; any event sequence read raises only
UpstreamShapeError; anything written is well-formed SSE with balanced blocks."""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.dialects import messages
from server.dialects.messages_stream import StreamReader, StreamWriter
from server.dialects.model import (
    DialectError,
    Ended,
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
from server.providers.sse import EventSplitter

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dialects" / "messages"
REQUESTS = [json.loads((FIXTURES / "request_full.json").read_text()),
            json.loads((FIXTURES / "claude_code_turn2.json").read_text())["body"]]
REPLIES = [json.loads((FIXTURES / n).read_text()) for n in ("reply_text.json",
                                                           "reply_tool_use.json")]
WORDS = ["type", "text", "image", "tool_use", "tool_result", "thinking", "content", "role",
         "user", "assistant", "system", "input", "id", "name", "source", "base64", "url",
         "index", "delta", "usage", "message_start", "content_block_start",
         "content_block_delta", "message_delta", "message_stop", "error", "text_delta",
         "input_json_delta", "thinking_delta", "signature_delta", "input_tokens"]

scalars = (st.none() | st.booleans() | st.integers(-5, 2**40) | st.floats(allow_nan=False)
           | st.sampled_from(WORDS) | st.text(max_size=12))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=30)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, (*prefix, i))
    return found


@functools.cache
def paths_of(which: int, kind: str) -> list[tuple]:
    return paths((REQUESTS if kind == "request" else REPLIES)[which])


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> Any:
    """A fixture with up to 4 of its values (anywhere in it) replaced by arbitrary JSON."""
    originals = REQUESTS if kind == "request" else REPLIES
    which = draw(st.integers(0, len(originals) - 1))
    value = copy.deepcopy(originals[which])
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths_of(which, kind)))
        if not where:
            return draw(json_values)
        parent = value
        for step in where[:-1]:  # an earlier change may have replaced the way there
            if not isinstance(parent, dict | list) or step not in \
                    (parent if isinstance(parent, dict) else range(len(parent))):
                break
            parent = parent[step]
        else:
            if isinstance(parent, dict) or (isinstance(parent, list)
                                            and where[-1] in range(len(parent))):
                parent[where[-1]] = draw(json_values)
    return value


def check_request(body: Any) -> None:
    try:
        request = messages.read_request(body)
    except DialectError:
        return
    with contextlib.suppress(DialectError):
        json.dumps(messages.write_request(request, "up"))
    assert messages.estimate_input_tokens(body) >= 0


def check_reply(answer: Any) -> None:
    messages.usage_of(answer)  # never raises
    try:
        reply = messages.read_reply(answer)
    except UpstreamShapeError:
        return
    json.dumps(messages.write_reply(reply, "m", {}))


@given(json_values)
def test_arbitrary_json_is_read_or_refused(value: Any) -> None:
    check_request(value)
    check_reply(value)


@given(mutated("request"))
def test_mutated_requests_are_read_or_refused_naming_a_field(body: Any) -> None:
    check_request(body)


@given(mutated("reply"))
def test_mutated_replies_are_read_or_refused(answer: Any) -> None:
    check_reply(answer)


small = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(WORDS), inner, max_size=3), max_leaves=6)
# Objects shaped like Anthropic's events, blocks and deltas, with arbitrary values in them.
shaped = st.fixed_dictionaries(
    {"type": st.sampled_from(WORDS)},
    optional={k: small for k in ("id", "text", "name", "input", "partial_json", "thinking",
                                 "signature", "data", "stop_reason", "message")})
stream_events = st.fixed_dictionaries(
    {"type": st.sampled_from(WORDS)},
    optional={"index": st.integers(-1, 3) | small, "message": shaped | small,
              "content_block": shaped | small, "delta": shaped | small,
              "usage": st.dictionaries(st.sampled_from(["input_tokens", "output_tokens",
                                                        "cache_read_input_tokens"]),
                                       st.integers(-1, 10**6) | small, max_size=3) | small,
              "error": shaped | small})


@given(st.lists(stream_events | small, max_size=8),
       st.lists(st.binary(max_size=20), max_size=3))
def test_any_event_sequence_read_raises_only_upstream_shape_errors(
        events: list[Any], garbage: list[bytes]) -> None:
    reader = StreamReader()
    for data in [json.dumps(e).encode() for e in events] + garbage:
        with contextlib.suppress(UpstreamShapeError):
            reader.read(data)


texts = st.text(max_size=8)
usages = st.builds(Usage, *[st.integers(0, 10**6)] * 5)
model_events = st.one_of(
    st.builds(Started, texts, texts, st.none() | usages), st.builds(TextDelta, texts),
    st.builds(ThinkingDelta, texts, st.none() | texts, st.none() | texts),
    st.builds(ToolCallStarted, st.integers(0, 3), texts, texts),
    st.builds(ToolArgumentsDelta, st.integers(0, 3), texts),
    st.builds(Stopped, st.sampled_from(["end", "length", "tool_use", "stop_sequence",
                                        "refusal"]), st.none() | texts),
    st.builds(UsageSeen, usages), st.just(Ended()))


@given(st.lists(model_events, max_size=20), usages, st.booleans())
def test_anything_written_is_well_formed_sse_with_balanced_blocks(
        events: list[Any], usage: Usage, failed: bool) -> None:
    writer = StreamWriter("m", {"model": "alias"})
    raw = b"".join(writer.write(e) for e in events)
    raw += writer.fail("gone", "upstream_error") if failed else writer.end(usage)
    splitter = EventSplitter(1 << 20)
    written = splitter.feed(raw) + splitter.end()
    assert b"".join(written) == raw  # nothing but whole events
    open_index, next_index, empty_text = None, 0, False
    for event in written:
        name, data = event.decode().rstrip("\n").split("\n")
        body = json.loads(data.removeprefix("data: "))
        assert name == f"event: {body['type']}"
        if body["type"] == "content_block_start":
            assert open_index is None and body["index"] == next_index
            empty_text = body["content_block"] == {"type": "text", "text": ""}
            open_index, next_index = next_index, next_index + 1
        elif body["type"] == "content_block_delta":
            assert body["index"] == open_index
            empty_text = False
        elif body["type"] == "content_block_stop":
            assert body["index"] == open_index and not empty_text  # never an empty text block
            open_index = None
    if not failed:
        assert json.loads(written[-1].decode().split("\n")[1][6:]) == {"type": "message_stop"}
        assert open_index is None
