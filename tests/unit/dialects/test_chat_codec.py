"""The chat completions codec on recorded fixtures (OpenAI's documented examples and what
DeepSeek, vLLM, Ollama and OpenRouter send): requests read and written, whole answers,
streams read event by event and written back as chunks the OpenAI SDK's models accept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from server.client_api.relay import error_event
from server.dialects import chat, messages, responses
from server.dialects.model import (
    DialectError,
    Ended,
    Image,
    Message,
    Reply,
    Request,
    Started,
    Stopped,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCall,
    ToolCallStarted,
    ToolChoice,
    ToolResult,
    UpstreamShapeError,
    Usage,
    UsageSeen,
)
from server.providers.sse import EventSplitter, data_of

FIXTURES = Path(__file__).parents[2] / "fixtures" / "dialects" / "chat"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def datas(raw: bytes) -> list[bytes]:
    """The data of each event of an SSE stream (events without data left out)."""
    events = EventSplitter().feed(raw)
    return [d for d in map(data_of, events) if d is not None]


def read_stream(name: str) -> list[Any]:
    reader = chat.StreamReader()
    return [e for data in datas((FIXTURES / name).read_bytes()) for e in reader.read(data)]


# --- requests ----------------------------------------------------------------------


def test_an_agent_request_reads_whole() -> None:
    request = chat.read_request(fixture("request_agent.json"))
    assert request.model == "coder"
    assert request.system == [Text("You are a coding assistant working in /repo."),
                              Text("Prefer small diffs."), Text("Answer in one sentence.")]
    assert request.messages == [
        Message("user", [Text("What is the weather like in Boston and Paris today?")]),
        Message("assistant", [
            Thinking("Two cities: call the tool twice, in parallel."),
            ToolCall("call_abc123", "get_current_weather", '{"location": "Boston, MA"}'),
            ToolCall("call_def456", "get_current_weather", '{"location": "Paris, France"}')]),
        Message("user", [  # the parallel calls' results: one user turn
            ToolResult("call_abc123", [Text('{"temperature": 22, "unit": "celsius"}')]),
            ToolResult("call_def456", [Text('{"temperature": 18, "unit": "celsius"}')])]),
        Message("assistant", [Text("Boston is 22 °C and Paris 18 °C.")]),
        Message("user", [Text("Thanks. "), Text("And tomorrow?")])]
    [tool] = request.tools
    assert (tool.name, tool.strict) == ("get_current_weather", False)
    assert tool.parameters["required"] == ["location"]
    assert request.tool_choice == ToolChoice("auto", parallel=True)
    assert (request.max_tokens, request.temperature, request.top_p) == (4096, 0.2, 0.9)
    assert request.stop == ["</answer>"]
    assert (request.stream, request.reasoning, request.user) == (True, "medium", "user-1234")


def test_an_agent_request_is_written_for_a_chat_provider() -> None:
    body = chat.write_request(chat.read_request(fixture("request_agent.json")), "qwen3:8b")
    assert body["model"] == "qwen3:8b"
    assert "reasoning_effort" not in body  # never sent to a chat provider
    assert body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["stop"], body["parallel_tool_calls"]) == \
        (4096, ["</answer>"], True)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant", "user"]
    assert body["messages"][0]["content"] == ("You are a coding assistant working in /repo."
                                              "\n\nPrefer small diffs.\n\nAnswer in one sentence.")
    calls = body["messages"][2]
    assert calls["content"] is None and "reasoning_content" not in calls  # thinking dropped
    assert [c["id"] for c in calls["tool_calls"]] == ["call_abc123", "call_def456"]
    assert body["messages"][4] == {"role": "tool", "tool_call_id": "call_def456",
                                   "content": '{"temperature": 18, "unit": "celsius"}'}
    assert body["messages"][6]["content"] == [{"type": "text", "text": "Thanks. "},
                                              {"type": "text", "text": "And tomorrow?"}]
    # What the chat body carries, it carries again when read back.
    again = chat.read_request(body)
    first = chat.read_request(fixture("request_agent.json"))
    assert again.tools == first.tools and again.tool_choice == first.tool_choice
    assert again.messages[2:] == first.messages[2:]


def test_images_by_url_and_inline_go_both_ways() -> None:
    original = fixture("request_vision.json")
    request = chat.read_request(original)
    _, url, inline = request.messages[0].parts
    assert url == Image(url=original["messages"][0]["content"][1]["image_url"]["url"],
                        detail="high")
    assert inline.media_type == "image/png" and inline.data.startswith("iVBORw0KGgo")
    assert inline.url is None
    written = chat.write_request(request, "gpt-4o")
    assert written["messages"] == original["messages"]
    assert written["max_tokens"] == 300 and "stream" not in written


def test_tool_results_images_follow_the_tool_messages() -> None:
    """A chat tool message takes text only: a screenshot a tool returned goes in the user
    message right after the results, not lost."""
    request = Request("m", [
        Message("assistant", [ToolCall("toolu_1", "screenshot", "{}")]),
        Message("user", [ToolResult("toolu_1", [Text("taken"), Image(data="AAAA",
                                                                     media_type="image/jpeg")]),
                         Text("what do you see?")])])
    messages = chat.write_request(request, "m")["messages"]
    assert messages[1] == {"role": "tool", "tool_call_id": "toolu_1", "content": "taken"}
    assert messages[2] == {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
        {"type": "text", "text": "what do you see?"}]}


def test_a_named_tool_choice_and_a_json_schema_format() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": {"type": "object"}, "strict": True}},
            "max_tokens": 10, "reasoning_effort": "none"}
    request = chat.read_request(body)
    assert request.tool_choice == ToolChoice("tool", "f")
    assert request.tools[0].parameters == {"type": "object", "properties": {}}
    assert request.response_format == {"name": "answer", "schema": {"type": "object"},
                                       "strict": True}
    assert request.reasoning is None and request.max_tokens == 10
    written = chat.write_request(request, "m")
    assert written["tool_choice"] == body["tool_choice"]
    assert written["response_format"] == body["response_format"]
    assert "parallel_tool_calls" not in written


def _message(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize(("body", "field"), [
    (_message(n=2), "n"),
    (_message(functions=[{"name": "f"}]), "functions"),
    (_message(tools=[{"type": "custom", "custom": {"name": "x"}}]), "tools[0]"),
    (_message(tool_choice={"type": "allowed_tools"}), "tool_choice"),
    (_message(reasoning_effort="extreme"), "reasoning_effort"),
    (_message(stop=[1]), "stop"),
    (_message(modalities=["text", "audio"]), "audio"),
    (_message(web_search_options={}), "web_search_options"),
    (_message(max_tokens=0), "max_tokens"),
    (_message(stream="yes"), "stream"),
    ({"messages": []}, "model"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": [{"role": "tool", "tool_call_id": "call_x", "content": "1"}]},
     "messages[0].tool_call_id"),
    ({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}]},
     "messages[0].content[0]"),
    ({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"arguments": "{}"}}]}]},
     "messages[0].tool_calls[0].function.name"),
])
def test_what_cannot_be_carried_is_a_dialect_error_naming_its_field(
        body: dict[str, Any], field: str) -> None:
    with pytest.raises(DialectError) as caught:
        chat.read_request(body)
    assert caught.value.field == field


# --- whole answers -----------------------------------------------------------------


def test_whole_answers_read() -> None:
    text = chat.read_reply(fixture("reply_text.json"))
    assert text.parts == [Text("Hello! How can I assist you today?")]
    assert (text.id, text.model, text.stop) == ("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
                                                "gpt-4.1-2025-04-14", "end")
    assert text.usage == Usage(input=19, output=10)
    tools = chat.read_reply(fixture("reply_tool_calls.json"))
    assert tools.stop == "tool_use"
    assert [p.id for p in tools.parts] == ["call_abc123", "call_def456"]
    assert tools.usage == Usage(input=82, output=17, cached=64)
    deepseek = chat.read_reply(fixture("reply_reasoning_deepseek.json"))
    assert deepseek.parts == [Thinking("Compare the tenths: 1 < 8, so 9.11 < 9.8."),
                              Text("9.11 is smaller than 9.8.")]
    assert deepseek.usage == Usage(input=18, output=212, reasoning=196)


@pytest.mark.parametrize("answer", [None, [], {}, {"choices": []}, {"choices": [1]},
                                    {"choices": [{"message": "hi"}]},
                                    {"choices": [{"message": {"tool_calls": [{}]}}]}])
def test_an_answer_no_client_could_use_is_an_upstream_shape_error(answer: Any) -> None:
    with pytest.raises(UpstreamShapeError):
        chat.read_reply(answer)


@pytest.mark.parametrize(("usage", "read"), [
    ({"prompt_tokens": 5, "completion_tokens": 2}, Usage(5, 2)),
    ({"prompt_tokens": 5, "completion_tokens": None}, Usage(5, 0)),
    ({"prompt_tokens": 10, "completion_tokens": 1, "prompt_cache_hit_tokens": 8},
     Usage(10, 1, cached=8)),
    ({"prompt_tokens": -1, "completion_tokens": 2}, None),
    ({"prompt_tokens": 10**12, "completion_tokens": 2}, None),
    ("lots", None),
])
def test_usage_is_read_where_believable(usage: Any, read: Usage | None) -> None:
    assert chat.usage_of({"usage": usage}) == read


def test_a_reply_is_written_for_the_client_by_its_model_name() -> None:
    reply = Reply("msg_01", "claude-sonnet-4-5-20250929",
                  [Thinking("think", signature="sig"), Text("Let me look."),
                   ToolCall("toolu_01", "read_file", '{"path": "a.py"}')],
                  stop="tool_use", usage=Usage(100, 20, cached=80, reasoning=5))
    answer = chat.write_reply(reply, "claude-sonnet-4-5", {"model": "sonnet", "messages": []})
    parsed = ChatCompletion.model_validate(answer)  # what the OpenAI SDK reads
    assert (parsed.id, parsed.model) == ("chatcmpl-msg_01", "sonnet")
    choice = parsed.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me look."
    assert choice.message.tool_calls[0].function.arguments == '{"path": "a.py"}'
    assert answer["choices"][0]["message"]["reasoning_content"] == "think"
    assert parsed.usage.total_tokens == 120
    assert parsed.usage.prompt_tokens_details.cached_tokens == 80
    assert chat.usage_of(answer) == reply.usage


@pytest.mark.parametrize(("stop", "finish"), [("end", "stop"), ("length", "length"),
                                              ("stop_sequence", "stop"),
                                              ("refusal", "content_filter")])
def test_stop_reasons_become_finish_reasons(stop: Any, finish: str) -> None:
    answer = chat.write_reply(Reply("r", "m", [Text("x")], stop=stop), "m", {})
    assert answer["choices"][0]["finish_reason"] == finish
    assert "usage" not in answer and answer["model"] == "m"


# --- streams read ------------------------------------------------------------------


def test_a_text_stream_reads_as_events() -> None:
    assert read_stream("stream_text.sse") == [
        Started("chatcmpl-123", "gpt-4o-mini"), TextDelta("Hello"), TextDelta("!"),
        Stopped("end"), UsageSeen(Usage(9, 2)), Ended()]


def test_parallel_tool_calls_stream_with_interleaved_arguments() -> None:
    assert read_stream("stream_tool_calls.sse")[1:] == [
        ToolCallStarted(0, "call_boston", "get_current_weather"),
        ToolArgumentsDelta(0, '{"location": "Bos'),
        ToolCallStarted(1, "call_paris", "get_current_weather"),
        ToolArgumentsDelta(0, 'ton, MA"}'),
        ToolArgumentsDelta(1, '{"location": "Paris, France"}'),
        Stopped("tool_use"), UsageSeen(Usage(82, 40, cached=64)), Ended()]


def test_ollama_parallel_calls_on_one_index_are_told_apart_by_id() -> None:
    """Ollama sends each call of a batch at index 0 and ends with "stop"."""
    assert read_stream("stream_tool_calls_ollama.sse")[1:] == [
        ToolCallStarted(0, "call_a1", "read_file"), ToolArgumentsDelta(0, '{"path":"a.py"}'),
        ToolCallStarted(1, "call_b2", "read_file"), ToolArgumentsDelta(1, '{"path":"b.py"}'),
        Stopped("tool_use"), UsageSeen(Usage(120, 30)), Ended()]


def test_reasoning_streams_read_as_thinking() -> None:
    assert read_stream("stream_reasoning_deepseek.sse")[1:] == [
        ThinkingDelta("Compare the tenths"), ThinkingDelta(": 1 < 8."),
        TextDelta("9.11 is smaller."), Stopped("end"),
        UsageSeen(Usage(18, 212, reasoning=196)), Ended()]
    # vLLM sends both field names, a list of parts, a null delta, the matched stop string
    assert read_stream("stream_reasoning_vllm.sse")[1:] == [
        ThinkingDelta("The user greets me."), TextDelta("Hi "), TextDelta("there"),
        Stopped("stop_sequence", "</answer>"), UsageSeen(Usage(12, 9)), Ended()]


@pytest.mark.parametrize(("name", "message"), [
    ("stream_error_openai.sse", "The server had an error while processing your request"),
    ("stream_error_openrouter.sse", "Provider disconnected unexpectedly")])
def test_a_providers_error_event_is_an_upstream_shape_error(name: str, message: str) -> None:
    with pytest.raises(UpstreamShapeError, match=message):
        read_stream(name)


@pytest.mark.parametrize("data", [b"{", b"[1]", b'{"choices": {}}', b'{"choices": [1]}',
                                  b'{"choices": [{"delta": "x"}]}',
                                  b'{"choices": [{"delta": {"tool_calls": {"index": 0}}}]}',
                                  b'{"object": "error", "message": "vLLM said no"}'])
def test_a_chunk_no_client_could_read_is_an_upstream_shape_error(data: bytes) -> None:
    with pytest.raises(UpstreamShapeError):
        chat.StreamReader().read(data)


def test_nothing_after_done_is_read() -> None:
    reader = chat.StreamReader()
    assert reader.read(b'{"id": "x", "choices": []}') == [Started("x", "")]
    assert reader.read(b"[DONE]") == [Ended()]
    assert reader.read(b'{"choices": [{"delta": {"content": "late"}}]}') == []


# --- streams written ---------------------------------------------------------------


def write_all(events: list[Any], body: dict[str, Any], usage: Usage) -> list[Any]:
    writer = chat.StreamWriter("upstream-model", body)
    raw = b"".join(writer.write(e) for e in events) + writer.end(usage)
    assert raw.endswith(b"data: [DONE]\n\n")
    return [json.loads(d) for d in datas(raw) if d != b"[DONE]"]


def test_written_chunks_carry_a_tool_calling_answer_to_a_chat_client() -> None:
    events = [Started("msg_1", "claude"), ThinkingDelta("hm"), ThinkingDelta(signature="s"),
              TextDelta("Reading."), ToolCallStarted(2, "toolu_1", "read_file"),
              ToolArgumentsDelta(2, '{"path"'), ToolCallStarted(3, "toolu_2", "grep"),
              ToolArgumentsDelta(3, '{"q": 1}'), ToolArgumentsDelta(2, ': "a.py"}'),
              Stopped("tool_use"), UsageSeen(Usage(50, 9)), Ended()]
    chunks = write_all(events, {"model": "sonnet", "stream": True}, Usage(50, 9))
    parsed = [ChatCompletionChunk.model_validate(c) for c in chunks]
    assert {(c.id, c.model) for c in parsed} == {("chatcmpl-msg_1", "sonnet")}
    assert parsed[0].choices[0].delta.role == "assistant"
    assert chunks[1]["choices"][0]["delta"] == {"reasoning_content": "hm"}
    calls: dict[int, dict[str, str]] = {}
    for chunk in parsed:
        for call in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": call.id, "name": call.function.name,
                                                  "arguments": ""})
            entry["arguments"] += call.function.arguments or ""
    assert calls == {0: {"id": "toolu_1", "name": "read_file", "arguments": '{"path": "a.py"}'},
                     1: {"id": "toolu_2", "name": "grep", "arguments": '{"q": 1}'}}
    assert [c.choices[0].finish_reason for c in parsed][-1] == "tool_calls"
    assert all(c.usage is None for c in parsed)  # the client did not ask for usage


def test_the_usage_chunk_comes_only_where_the_client_asked() -> None:
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True}}
    chunks = write_all([Started("x", "m"), TextDelta("hi"), Stopped("end")], body,
                       Usage(7, 1, cached=3))
    last = ChatCompletionChunk.model_validate(chunks[-1])
    assert last.choices == [] and last.usage.prompt_tokens == 7
    assert last.usage.prompt_tokens_details.cached_tokens == 3
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, "stop"]


def test_a_stream_the_provider_did_not_finish_still_ends_well_formed() -> None:
    chunks = write_all([TextDelta("cut")], {}, Usage(1, 1))
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""}, {"content": "cut"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_fixture_stream_goes_through_reader_and_writer_unchanged_in_meaning() -> None:
    events = read_stream("stream_tool_calls.sse")
    chunks = write_all(events, {"model": "m"}, Usage(82, 40))
    again = chat.StreamReader()
    replay = [e for c in chunks for e in again.read(json.dumps(c).encode())]
    assert replay[1:] == [e for e in events[1:] if not isinstance(e, UsageSeen | Ended)]


def test_a_failure_is_the_relays_error_event() -> None:
    writer = chat.StreamWriter("m", {})
    assert writer.fail("the upstream stream failed: boom", "upstream_error") == \
        error_event("the upstream stream failed: boom", "upstream_error")
    assert writer.fail("internal error", "internal_error") == \
        error_event("internal error", "internal_error", "server_error")


def test_error_body_is_the_openai_shape() -> None:
    body = json.loads(chat.error_body(400, "n: only 1", "invalid_request", "n"))
    assert body == {"error": {"message": "n: only 1", "type": "invalid_request_error",
                              "code": "invalid_request", "param": "n"}}


def test_an_end_user_longer_than_openai_takes_is_not_sent() -> None:
    """Claude Code's metadata.user_id (~150 characters) would be a 400 from OpenAI (at most
    64); a short one goes on, for the provider's abuse checks."""
    turn = json.loads((FIXTURES.parent / "messages" / "claude_code_turn1.json").read_text())
    request = messages.read_request(turn["body"])
    assert request.user is not None and len(request.user) > 64
    assert "user" not in chat.write_request(request, "gpt-x")
    assert "user" not in responses.write_request(request, "gpt-x")
    request.user = "user-1234"
    assert chat.write_request(request, "gpt-x")["user"] == "user-1234"
    assert responses.write_request(request, "gpt-x")["user"] == "user-1234"
