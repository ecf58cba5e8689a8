"""Fuzzing the OpenAI Responses codec (server/dialects/responses.py) under the bounded
profile of tests/fuzz/conftest.py: arbitrary and mutated requests and answers raise only
DialectError / UpstreamShapeError; arbitrary provider events only UpstreamShapeError; what
the StreamWriter writes for any event sequence is SSE whose data the openai SDK types."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from server.dialects import responses as codec
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

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dialects" / "responses"
REQUESTS = [json.loads((FIXTURES / "request_full.json").read_text()),
            json.loads((FIXTURES / "codex_turn2.json").read_text())["body"]]
ANSWERS = [json.loads((FIXTURES / f"response_{n}.json").read_text())
           for n in ("text", "tool", "incomplete")]
EVENTS = TypeAdapter(ResponseStreamEvent)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20)


@st.composite
def mutated(draw: st.DrawFn, documents: list[dict]) -> Any:
    """A fixture with one node somewhere inside replaced by an arbitrary value."""
    doc = copy.deepcopy(draw(st.sampled_from(documents)))
    node: Any = doc
    for _ in range(draw(st.integers(1, 6))):
        children = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        if not children:
            break
        key = draw(st.sampled_from(children))
        if not isinstance(node[key], (dict, list)) or draw(st.booleans()):
            node[key] = draw(json_values)
            break
        node = node[key]
    return doc


@given(json_values | mutated(REQUESTS))
def test_any_request_reads_or_names_its_field(body: Any) -> None:
    try:
        codec.read_request(body)
    except DialectError as exc:
        assert exc.field


@given(json_values | mutated(ANSWERS))
def test_any_answer_reads_or_is_an_upstream_shape_error(answer: Any) -> None:
    codec.usage_of(answer)
    with contextlib.suppress(UpstreamShapeError):
        codec.read_reply(answer)


TYPES = ["response.created", "response.output_item.added", "response.output_item.done",
         "response.output_text.delta", "response.function_call_arguments.delta",
         "response.function_call_arguments.done", "response.reasoning_summary_text.delta",
         "response.reasoning_summary_part.added", "response.completed",
         "response.incomplete", "response.failed", "error", "response.refusal.delta"]
provider_events = st.one_of(
    st.binary(max_size=20),
    st.builds(lambda t, fields: json.dumps({"type": t, **fields}).encode(),
              st.sampled_from(TYPES),
              st.dictionaries(st.sampled_from(["item", "output_index", "delta", "item_id",
                                               "response", "summary_index", "arguments"]),
                              json_values, max_size=4)))


@given(st.lists(provider_events, max_size=12))
def test_any_provider_events_give_events_or_an_upstream_shape_error(datas: list) -> None:
    reader = codec.StreamReader()
    try:
        for data in datas:
            reader.read(data)
    except UpstreamShapeError:
        pass


text = st.text(max_size=6)
internal_events = st.one_of(
    st.builds(Started, text, text), st.builds(TextDelta, text),
    st.builds(ThinkingDelta, text, st.none() | text, st.none() | text),
    st.builds(ToolCallStarted, st.integers(0, 3), text, text),
    st.builds(ToolArgumentsDelta, st.integers(0, 3), text),
    st.builds(Stopped, st.sampled_from(["end", "length", "tool_use", "stop_sequence",
                                        "refusal"])),
    st.builds(UsageSeen, st.builds(Usage)), st.just(Ended()))


@given(st.lists(internal_events, max_size=16), st.booleans())
def test_any_event_sequence_is_written_as_typed_sse(events: list, fails: bool) -> None:
    writer = codec.StreamWriter("m", {"model": "m"})
    raw = b"".join(writer.write(e) for e in events)
    raw += writer.fail("gone", "server_error") if fails else writer.end(Usage(1, 2))
    chunks = raw.decode().split("\n\n")
    assert chunks[-1] == ""
    for number, chunk in enumerate(chunks[:-1]):
        event_line, data_line = chunk.split("\n")
        data = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {data['type']}" and data["sequence_number"] == number
        EVENTS.validate_python(data)
    assert json.loads(chunks[-2].split("\n")[1][6:])["type"] in (
        "response.completed", "response.incomplete", "response.failed")
