"""The OpenAI Responses codec (server/dialects/responses.py) on recorded fixtures: Codex
0.171's real requests, OpenAI-shaped answers and streams; what it writes is checked with
the openai SDK's own types and its stream accumulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from server.dialects import responses as codec
from server.dialects.model import (
    DialectError,
    Ended,
    Image,
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
    ToolResult,
    UpstreamShapeError,
    Usage,
    UsageSeen,
)
from server.providers.sse import EventSplitter, data_of

FIXTURES = Path(__file__).parents[2] / "fixtures" / "dialects" / "responses"
EVENTS = TypeAdapter(ResponseStreamEvent)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def datas(raw: bytes) -> list[bytes]:
    splitter = EventSplitter()
    return [d for e in splitter.feed(raw) + splitter.end() if (d := data_of(e)) is not None]


def read_stream(name: str) -> list:
    reader = codec.StreamReader()
    return [e for d in datas((FIXTURES / name).read_bytes()) for e in reader.read(d)]


# --- requests ------------------------------------------------------------------------


def test_codex_first_turn_reads_with_its_developer_messages_and_namespace_tools() -> None:
    request = codec.read_request(fixture("codex_turn1.json")["body"])
    assert request.model == "mpx-agent" and request.stream
    assert request.system[0].text.startswith("You are a coding agent running in the Codex CLI")
    assert [m.role for m in request.messages] == ["user"]
    assert request.messages[0].parts[-1] == Text("Write modelproxy-ok into proof.txt")
    names = [t.name for t in request.tools]
    assert names[0] == "exec_command" and "multi_agent_v1__spawn_agent" in names
    assert request.tool_choice.mode == "auto" and request.tool_choice.parallel is True
    assert request.reasoning is None  # Codex sends only summary: auto for unknown models


def test_codex_second_turn_carries_the_call_and_its_output() -> None:
    body = fixture("codex_turn2.json")["body"]
    request = codec.read_request(body)
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]
    call = request.messages[1].parts[0]
    assert isinstance(call, ToolCall) and call.name == "exec_command"
    assert call.id == body["input"][-2]["call_id"]
    result = request.messages[2].parts[0]
    assert isinstance(result, ToolResult) and result.call_id == call.id
    assert "modelproxy-ok" in result.content[0].text


def test_codex_default_web_search_tool_is_refused_by_name() -> None:
    with pytest.raises(DialectError) as caught:
        codec.read_request(fixture("codex_default_turn1.json")["body"])
    assert caught.value.field == "tools[8].type"
    assert 'web_search = "disabled"' in caught.value.message


def test_a_full_request_reads_every_field() -> None:
    request = codec.read_request(fixture("request_full.json"))
    assert [t.text for t in request.system] == ["You are terse.", "Answer in French."]
    user, assistant, results = request.messages[:3]
    assert user.parts[1] == Image(url="data:image/png;base64,iVBORw0KGgo=", detail="low")
    thinking, call = assistant.parts
    assert thinking.encrypted == "gAAAAABo1Hc1opaqueblob==" and "Paris" in thinking.text
    assert call == ToolCall("call_12345xyz", "get_weather", '{"location":"Paris, France"}')
    assert results.parts == [ToolResult("call_12345xyz", [Text("15 C, cloudy")])]
    assert [m.role for m in request.messages] == ["user", "assistant", "user", "assistant",
                                                  "user"]
    assert request.tools[0].strict is True and request.tools[0].name == "get_weather"
    choice = request.tool_choice
    assert (choice.mode, choice.name, choice.parallel) == ("tool", "get_weather", False)
    assert (request.max_tokens, request.temperature, request.top_p) == (1024, 0.2, 0.9)
    assert request.reasoning == "low" and request.user == "user-1234"
    assert request.response_format["name"] == "answer" and request.response_format["strict"]


@pytest.mark.parametrize("change, field", [
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"store": True}, "store"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     "input[0].content[0].file_id"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]},
     "input[0].call_id"),
    ({"input": [{"type": "custom_tool_call", "call_id": "c", "name": "n", "input": ""}]},
     "input[0].type"),
    ({"input": [{"type": "local_shell_call"}]}, "input[0].type"),
    ({"input": [{"type": "web_search_call"}]}, "input[0].type"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
     "input[0].content[0].type"),
    ({"tools": [{"type": "file_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "custom", "name": "apply_patch"}]}, "tools[0].type"),
    ({"tools": [{"type": "local_shell"}]}, "tools[0].type"),
    ({"tool_choice": {"type": "web_search"}}, "tool_choice"),
    ({"max_output_tokens": "many"}, "max_output_tokens"),
    ({"text": {"format": {"type": "grammar"}}}, "text.format.type"),
])
def test_what_cannot_be_carried_is_refused_naming_its_field(change: dict, field: str) -> None:
    with pytest.raises(DialectError) as caught:
        codec.read_request({"model": "m", "input": "hi", **change})
    assert caught.value.field == field


# --- whole answers -------------------------------------------------------------------


def test_read_reply_of_text_tool_call_and_incomplete_answers() -> None:
    text = codec.read_reply(fixture("response_text.json"))
    assert text.parts == [Text("Hello there!")] and text.stop == "end"
    assert text.usage == Usage(36, 87)
    tool = codec.read_reply(fixture("response_tool.json"))
    assert tool.stop == "tool_use" and tool.usage == Usage(291, 123, cached=256, reasoning=64)
    assert tool.parts[0].encrypted == "gAAAAABo1Hc1opaqueblob=="
    assert tool.parts[1] == ToolCall("call_12345xyz", "get_weather",
                                     '{"location":"Paris, France"}')
    assert codec.read_reply(fixture("response_incomplete.json")).stop == "length"
    assert codec.usage_of({"usage": {"input_tokens": -1, "output_tokens": 2}}) is None


def test_write_reply_is_a_response_the_sdk_parses() -> None:
    body = fixture("codex_turn1.json")["body"]
    reply = Reply("msg_1", "claude-x", [
        Thinking("Let me look.", signature="sig-abc"), Text("Checking"), Text(" now."),
        ToolCall("toolu_1", "exec_command", '{"cmd":"ls"}'),
        ToolCall("toolu_2", "multi_agent_v1__wait_agent", "{}")],
        stop="tool_use", usage=Usage(100, 20, cached=80, cache_write=10, reasoning=5))
    answer = codec.write_reply(reply, "mpx-agent", body)
    parsed = Response.model_validate(answer)
    assert parsed.model == "mpx-agent" and parsed.status == "completed"
    assert parsed.output_text == "Checking now."
    kinds = [item.type for item in parsed.output]
    assert kinds == ["reasoning", "message", "function_call", "function_call"]
    assert parsed.output[3].namespace == "multi_agent_v1" and parsed.output[3].name == "wait_agent"
    assert parsed.usage.total_tokens == 120
    assert parsed.usage.input_tokens_details.cached_tokens == 80
    length = codec.write_reply(Reply("x", "m", [Text("cut")], stop="length"), "m", {})
    assert Response.model_validate(length).incomplete_details.reason == "max_output_tokens"


def test_a_written_reply_comes_back_as_the_same_parts_in_the_next_request() -> None:
    """Codex sends the output items back: signatures and namespaced names survive."""
    parts = [Thinking("hmm", signature="sig-abc"), Thinking("", encrypted="data", redacted=True),
             ToolCall("toolu_2", "multi_agent_v1__wait_agent", "{}")]
    body = fixture("codex_turn1.json")["body"]
    output = codec.write_reply(Reply("x", "m", parts), "m", body)["output"]
    history = {**body, "input": body["input"] + output}
    assert codec.read_request(history).messages[-1].parts == parts


# --- streams -------------------------------------------------------------------------


def test_stream_reader_on_recorded_streams() -> None:
    text = read_stream("stream_text.sse")
    assert isinstance(text[0], Started) and text[0].model == "gpt-5-2025-08-07"
    assert text[1:] == [TextDelta("Hello"), TextDelta(" there!"), Stopped("end"),
                        UsageSeen(Usage(36, 87)), Ended()]
    tool = read_stream("stream_tool.sse")[1:]
    assert tool[:2] == [ThinkingDelta("**Checking the weather**"),
                        ThinkingDelta("\n\nThe user wants Paris weather.")]
    assert tool[2:] == [ThinkingDelta(encrypted="gAAAAABo1Hc1opaqueblob=="),
                        ToolCallStarted(1, "call_12345xyz", "get_weather"),
                        ToolArgumentsDelta(1, '{"location":'),
                        ToolArgumentsDelta(1, '"Paris, France"}'), Stopped("tool_use"),
                        UsageSeen(Usage(291, 123, cached=256, reasoning=64)), Ended()]
    assert read_stream("stream_incomplete.sse")[-3] == Stopped("length")
    with pytest.raises(UpstreamShapeError, match="failed to generate"):
        read_stream("stream_failed.sse")


def written(events: list, usage: Usage, body: dict | None = None) -> list[dict]:
    writer = codec.StreamWriter("mpx-agent", body or {"model": "mpx-agent"})
    raw = b"".join(writer.write(e) for e in events) + writer.end(usage)
    return parse_sse(raw)


def parse_sse(raw: bytes) -> list[dict]:
    out = []
    for chunk in raw.decode().split("\n\n")[:-1]:
        event_line, data_line = chunk.split("\n")
        data = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {data['type']}"
        EVENTS.validate_python(data)  # every event as the SDK types it
        out.append(data)
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    return out


def accumulate(events: list[dict]) -> Response:
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    for data in events:
        state.handle_event(EVENTS.validate_python(data))
    return state._completed_response


def test_stream_writer_round_trips_the_recorded_tool_stream() -> None:
    events = read_stream("stream_tool.sse")
    out = written(events, Usage(291, 123, cached=256, reasoning=64))
    types = [e["type"] for e in out]
    assert types[:3] == ["response.created", "response.in_progress",
                         "response.output_item.added"]
    assert types[-1] == "response.completed" and types.count("response.output_item.done") == 2
    final = accumulate(out)
    assert final.output[0].summary[0].text.endswith("Paris weather.")
    assert final.output[0].encrypted_content == "gAAAAABo1Hc1opaqueblob=="
    call = final.output[1]
    assert (call.call_id, call.name, call.arguments) == (
        "call_12345xyz", "get_weather", '{"location":"Paris, France"}')
    assert final.usage.output_tokens_details.reasoning_tokens == 64
    reread = codec.StreamReader()
    again = [e for d in out for e in reread.read(json.dumps(d).encode())]
    assert again[1:] == events[1:]  # the same events, read back from what was written


def test_stream_writer_text_thinking_and_parallel_calls() -> None:
    events = [Started("msg_1", "claude"), ThinkingDelta("plan"), ThinkingDelta(signature="s1"),
              TextDelta("Hi "), TextDelta("there"), ToolCallStarted(0, "toolu_a", "exec_command"),
              ToolCallStarted(1, "toolu_b", "multi_agent_v1__wait_agent"),
              ToolArgumentsDelta(0, '{"cmd":'), ToolArgumentsDelta(1, "{}"),
              ToolArgumentsDelta(0, '"ls"}'), Stopped("tool_use"), Ended()]
    out = written(events, Usage(10, 5), fixture("codex_turn1.json")["body"])
    final = accumulate(out)
    assert final.output_text == "Hi there"
    assert final.output[0].encrypted_content.endswith("s1")
    assert [(o.call_id, o.arguments) for o in final.output[2:]] == [
        ("toolu_a", '{"cmd":"ls"}'), ("toolu_b", "{}")]
    assert final.output[3].namespace == "multi_agent_v1"


def test_stream_writer_ends_incomplete_on_length_and_fails_with_the_code() -> None:
    out = written([TextDelta("cut"), Stopped("length")], Usage(3, 1))
    assert out[-1]["type"] == "response.incomplete"
    assert out[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    writer = codec.StreamWriter("m", {})
    failed = parse_sse(writer.write(TextDelta("x")) + writer.fail("upstream gone", "server_error"))
    assert failed[-1]["type"] == "response.failed"
    assert failed[-1]["response"]["error"] == {"code": "server_error", "message": "upstream gone"}
    assert writer.end(Usage()) == b""


def test_write_request_reads_back_as_the_same_request() -> None:
    request = codec.read_request(fixture("request_full.json"))
    body = codec.write_request(request, "gpt-5")
    again = codec.read_request(body)
    assert again.messages == request.messages and again.tools == request.tools
    assert again.system == [Text("You are terse.\n\nAnswer in French.")]
    assert (again.tool_choice, again.max_tokens, again.reasoning) == (
        request.tool_choice, request.max_tokens, request.reasoning)


def test_error_body_is_openai_shaped() -> None:
    body = json.loads(codec.error_body(400, "bad", "invalid_request_error", "input[0]"))
    assert body["error"]["message"] == "bad" and body["error"]["param"] == "input[0]"
