"""The Anthropic Messages codec (server/dialects/messages.py) on recorded fixtures: the
documented examples and real Claude Code requests (tests/fixtures/dialects/messages/)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import anthropic.types
import pytest

from server.dialects import messages
from server.dialects.model import (
    DialectError,
    Image,
    Message,
    Reply,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    UpstreamShapeError,
    Usage,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "dialects" / "messages"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def request_body(**changes: Any) -> dict[str, Any]:
    return {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]} | changes


# --- read_request ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["claude_code_turn1.json", "claude_code_turn2.json",
                                  "claude_code_title.json"])
def test_real_claude_code_requests_are_read(name: str) -> None:
    body = fixture(name)["body"]
    request = messages.read_request(body)
    assert request.model == body["model"] and request.stream
    assert request.max_tokens == body["max_tokens"]
    assert request.reasoning == "high"  # output_config.effort; thinking is "adaptive"
    assert request.user == body["metadata"]["user_id"]
    assert [t.name for t in request.tools] == [t["name"] for t in body.get("tools", [])]
    # Its mid-conversation system message joins the system prompt.
    inline = [m["content"] for m in body["messages"] if m["role"] == "system"]
    assert [t.text for t in request.system] == [b["text"] for b in body["system"]] + inline
    assert all(m.role in ("user", "assistant") for m in request.messages)


def test_the_second_claude_code_turn_carries_its_tool_call_and_result() -> None:
    request = messages.read_request(fixture("claude_code_turn2.json")["body"])
    call = request.messages[1].parts[0]
    result = request.messages[2].parts[0]
    assert isinstance(call, ToolCall) and call.name == "Bash"
    assert json.loads(call.arguments)["command"].startswith("echo modelproxy-ok")
    assert result == ToolResult(call.id, [Text("modelproxy-ok")], is_error=False)


def test_the_title_request_asks_for_its_json_schema() -> None:
    request = messages.read_request(fixture("claude_code_title.json")["body"])
    assert request.response_format is not None
    assert request.response_format["schema"]["required"] == ["title"]


def test_every_block_of_a_full_request_is_read() -> None:
    request = messages.read_request(fixture("request_full.json"))
    assert request.system == [Text("You are a weather bot.")]
    user, assistant, results = request.messages
    assert user.parts == [Text("What is in this picture, and the weather there?"),
                          Image(data="/9j/4AAQSkZJRg==", media_type="image/jpeg"),
                          Image(url="https://upload.wikimedia.org/wikipedia/commons/a/a7/"
                                    "Camponotus_flavomarginatus_ant.jpg")]
    assert assistant.parts == [
        Thinking("An ant. Then the weather.",
                 signature="WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve"),
        Thinking("", encrypted="EmwKAhgBEgy3va3pzix", redacted=True),
        Text("An ant. Let me check the weather."),
        ToolCall("toolu_01A09q90qw90lq917835lq9", "get_weather",
                 '{"location": "San Francisco, CA"}')]
    assert results.parts == [
        ToolResult("toolu_01A09q90qw90lq917835lq9",
                   [Text("15 degrees"), Image(data="iVBORw0KGgo=", media_type="image/png")]),
        Text("Thanks. And in celsius?")]
    assert [(t.name, t.description) for t in request.tools] == [
        ("get_weather", "Get the current weather in a given location"), ("get_time", None)]
    assert request.tool_choice == ToolChoice("auto", parallel=False)
    assert (request.stop, request.temperature, request.stream) == (["\n\nHuman:"], 0.5, True)
    assert (request.reasoning, request.reasoning_budget) == ("medium", 10000)
    assert request.user == "user-1234"


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (4095, "low"), (4096, "medium"),
                                                 (16383, "medium"), (16384, "high")])
def test_a_thinking_budget_maps_to_an_effort(budget: int, effort: str) -> None:
    request = messages.read_request(request_body(
        thinking={"type": "enabled", "budget_tokens": budget}))
    assert (request.reasoning, request.reasoning_budget) == (effort, budget)


@pytest.mark.parametrize(("changes", "field"), [
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
     "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [
        {"type": "text", "text": "b"},
        {"type": "tool_use", "id": "t", "name": "f", "input": "x"}]}]},
     "messages[1].content[1].input"),
    ({"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"}]}]},
     "messages[0].content[0].tool_use_id"),
    ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
     "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f",
                                                 "input": {}}]}]},
     "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "sparkle"}]}]},
     "messages[0].content[0].type"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": "hi"}, "messages"),
    ({"tools": [{"name": "f", "input_schema": {}}, {"type": "web_search_20250305",
                                                    "name": "web_search"}]}, "tools[1]"),
    ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools[0]"),
    ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
    ({"tool_choice": {"type": []}}, "tool_choice.type"),
    ({"tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ({"max_tokens": "many"}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"temperature": "hot"}, "temperature"),
    ({"stop_sequences": ["a", 2]}, "stop_sequences[1]"),
    ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    ({"system": [{"type": "image"}]}, "system[0].type"),
    ({"mcp_servers": [{"type": "url", "url": "https://mcp.example"}]}, "mcp_servers"),
    ({"container": "container_1"}, "container"),
    ({"model": None}, "model"),
])
def test_what_cannot_be_read_or_carried_names_its_field(changes: dict[str, Any],
                                                         field: str) -> None:
    with pytest.raises(DialectError) as caught:
        messages.read_request(request_body(**changes))
    assert caught.value.field == field


def test_the_server_tool_is_named_in_the_message() -> None:
    with pytest.raises(DialectError, match="web_search_20250305"):
        messages.read_request(request_body(tools=[{"type": "web_search_20250305", "name": "w"}]))


def test_unknown_top_level_fields_are_ignored() -> None:
    request = messages.read_request(request_body(context_management={"edits": []}, new_beta=1))
    assert request.messages == [Message("user", [Text("hi")])]


# --- write_request ---------------------------------------------------------------------


def test_a_read_request_is_written_back_for_an_anthropic_provider() -> None:
    body = messages.write_request(messages.read_request(fixture("request_full.json")), "up-1")
    original = fixture("request_full.json")
    assert body["model"] == "up-1" and body["max_tokens"] == 16000 and body["stream"] is True
    assert body["system"] == "You are a weather bot."
    for sent, got in zip(original["messages"], body["messages"], strict=True):
        assert got["role"] == sent["role"]
        assert [b["type"] for b in got["content"]] == [b["type"] for b in sent["content"]]
    assert body["messages"][0]["content"][2]["source"]["type"] == "url"
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 10000}
    assert "temperature" not in body  # not with thinking on
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["metadata"] == {"user_id": "user-1234"}
    assert body["stop_sequences"] == ["\n\nHuman:"]


def test_a_claude_code_turn_written_for_anthropic_keeps_its_conversation() -> None:
    original = fixture("claude_code_turn2.json")["body"]
    body = messages.write_request(messages.read_request(original), "claude-opus-4-8")
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == original["messages"][2]["content"]
    assert body["messages"][2]["content"][0]["tool_use_id"] == \
        body["messages"][1]["content"][0]["id"]
    assert len(body["system"]) == 4  # three system blocks and the inline system message
    assert len(body["tools"]) == 24 and body["max_tokens"] == 64000
    assert "thinking" not in body  # its tool call came with no thinking to continue
    first = messages.write_request(
        messages.read_request(fixture("claude_code_turn1.json")["body"]), "claude-opus-4-8")
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 24576}  # effort high


def test_turns_alternate_tool_results_lead_and_foreign_thinking_is_dropped() -> None:
    request = Request(model="m", messages=[
        Message("user", [Text("a")]), Message("user", [Text(""), Text("b")]),
        Message("assistant", [Thinking("from another provider"), Text("c"),
                              ToolCall("call_1", "f", '{"x": 1}'), ToolCall("call_2", "g", "")]),
        Message("user", [ToolResult("call_1", [Text("r1")])]),
        Message("user", [Text("and also"), ToolResult("call_2", [], is_error=True)]),
    ])
    body = messages.write_request(request, "up")
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "c"},
            {"type": "tool_use", "id": "call_1", "name": "f", "input": {"x": 1}},
            {"type": "tool_use", "id": "call_2", "name": "g", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1",
             "content": [{"type": "text", "text": "r1"}]},
            {"type": "tool_result", "tool_use_id": "call_2", "is_error": True},
            {"type": "text", "text": "and also"}]}]
    assert body["max_tokens"] == 4096


def test_arguments_that_are_not_a_json_object_are_carried_raw() -> None:
    request = Request(model="m", messages=[Message("user", [Text("go")]), Message(
        "assistant", [ToolCall("c1", "f", '{"cut": '), ToolCall("c2", "f", "[1]")])])
    calls = messages.write_request(request, "up")["messages"][1]["content"]
    assert [c["input"] for c in calls] == [{"_raw": '{"cut": '}, {"_raw": "[1]"}]


def test_data_urls_become_base64_images_and_other_urls_are_refused() -> None:
    image = Image(url="data:image/webp;base64,UklGRg==")
    body = messages.write_request(Request("m", [Message("user", [image])]), "up")
    assert body["messages"][0]["content"][0]["source"] == {
        "type": "base64", "media_type": "image/webp", "data": "UklGRg=="}
    with pytest.raises(DialectError) as caught:
        messages.write_request(
            Request("m", [Message("user", [Text("x"), Image(url="ftp://a")])]), "up")
    assert caught.value.field == "messages[0].parts[1]"


@pytest.mark.parametrize(("mode", "name", "parallel", "sent"), [
    ("auto", None, None, {"type": "auto"}),
    ("none", None, None, {"type": "none"}),
    ("required", None, False, {"type": "any", "disable_parallel_tool_use": True}),
    ("tool", "f", None, {"type": "tool", "name": "f"}),
])
def test_tool_choices_map(mode: str, name: str | None, parallel: bool | None,
                          sent: dict[str, Any]) -> None:
    request = Request("m", [Message("user", [Text("x")])],
                      tools=[Tool("f", None, {"type": "object"})],
                      tool_choice=ToolChoice(mode, name, parallel))  # type: ignore[arg-type]
    assert messages.write_request(request, "up")["tool_choice"] == sent


def test_effort_becomes_a_budget_below_max_tokens_without_temperature() -> None:
    request = Request("m", [Message("user", [Text("x")])], reasoning="high", max_tokens=1000,
                      temperature=0.3, top_p=0.9)
    body = messages.write_request(request, "up")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert body["max_tokens"] == 24576 + 4096
    assert "temperature" not in body and "top_p" not in body


def test_without_thinking_temperature_is_clamped_and_top_p_only_goes_alone() -> None:
    both = messages.write_request(Request("m", [], temperature=1.7, top_p=0.5), "up")
    assert (both["temperature"], "top_p" in both) == (1.0, False)
    assert messages.write_request(Request("m", [], top_p=0.5), "up")["top_p"] == 0.5


def test_thinking_stays_off_where_anthropic_would_refuse_it() -> None:
    forced = Request("m", [Message("user", [Text("x")])], reasoning="low",
                     tools=[Tool("f", None, {})], tool_choice=ToolChoice("required"))
    assert "thinking" not in messages.write_request(forced, "up")
    # Continuing a tool call whose thinking (another provider's) did not come back.
    loop = Request("m", [Message("user", [Text("x")]),
                         Message("assistant", [Thinking("foreign"), ToolCall("c", "f", "{}")]),
                         Message("user", [ToolResult("c", [Text("ok")])])], reasoning="low")
    assert "thinking" not in messages.write_request(loop, "up")


def test_a_response_format_cannot_be_sent() -> None:
    with pytest.raises(DialectError) as caught:
        messages.write_request(Request("m", [], response_format={"type": "json_object"}), "up")
    assert caught.value.field == "response_format"


# --- replies, usage, errors ------------------------------------------------------------


def test_a_documented_reply_is_read() -> None:
    reply = messages.read_reply(fixture("reply_text.json"))
    assert reply == Reply("msg_013Zva2CMHLNnXjNJJKqJ2EF", "claude-sonnet-4-5-20250929",
                          [Text("Hi! My name is Claude.")], "end", None, Usage(2095, 503))


def test_a_tool_use_reply_counts_cache_tokens_into_input() -> None:
    reply = messages.read_reply(fixture("reply_tool_use.json"))
    assert reply.stop == "tool_use"
    assert [type(p).__name__ for p in reply.parts] == ["Thinking", "Thinking", "Text", "ToolCall"]
    assert json.loads(reply.parts[3].arguments) == {"location": "San Francisco, CA",
                                                    "unit": "celsius"}
    assert reply.usage == Usage(input=50 + 1200 + 3000, output=120, cached=3000, cache_write=1200)
    assert messages.usage_of(fixture("reply_tool_use.json")) == reply.usage


@pytest.mark.parametrize(("stop", "ours"), [("end_turn", "end"), ("max_tokens", "length"),
                                            ("stop_sequence", "stop_sequence"),
                                            ("refusal", "refusal"), ("pause_turn", "end"),
                                            ("tool_use", "tool_use")])
def test_stop_reasons_are_read(stop: str, ours: str) -> None:
    assert messages.read_reply(fixture("reply_text.json") | {"stop_reason": stop}).stop == ours


@pytest.mark.parametrize("answer", [[], {"content": "x"}, {"content": [3]},
                                    {"content": [{"type": "tool_use", "id": "t", "name": "f",
                                                  "input": []}]},
                                    {"content": [{"type": "text"}]}])
def test_malformed_answers_are_upstream_shape_errors(answer: Any) -> None:
    with pytest.raises(UpstreamShapeError):
        messages.read_reply(answer)


@pytest.mark.parametrize("usage", [None, "x", {"input_tokens": -1}, {"output_tokens": "3"}])
def test_unbelievable_usage_is_none(usage: Any) -> None:
    assert messages.usage_of({"usage": usage}) is None


def test_a_reply_is_written_as_the_sdk_reads_a_message() -> None:
    reply = Reply("chatcmpl-1", "gpt-x", [Thinking("hmm"), Text(""), Text("Hello"),
                                         ToolCall("call_9", "f", '{"a": [1]}')],
                  "tool_use", usage=Usage(input=100, output=7, cached=60))
    out = messages.write_reply(reply, "gpt-x", {"model": "claude-alias"})
    parsed = anthropic.types.Message.model_validate(out)
    assert parsed.id.startswith("msg_") and parsed.model == "claude-alias"
    assert [b.type for b in parsed.content] == ["thinking", "text", "tool_use"]
    assert parsed.content[2].input == {"a": [1]}
    assert parsed.stop_reason == "tool_use"
    assert (parsed.usage.input_tokens, parsed.usage.cache_read_input_tokens,
            parsed.usage.output_tokens) == (40, 60, 7)


def test_a_reply_with_no_parts_has_no_content() -> None:
    out = messages.write_reply(Reply("msg_1", "m", []), "m", {})
    assert out["content"] == [] and out["stop_reason"] == "end_turn" and out["model"] == "m"


@pytest.mark.parametrize(("status", "kind"), [
    (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
    (404, "not_found_error"), (413, "request_too_large"), (429, "rate_limit_error"),
    (500, "api_error"), (502, "api_error"), (503, "overloaded_error"), (529, "overloaded_error"),
    (408, "invalid_request_error"), (599, "api_error")])
def test_error_bodies_take_anthropics_type_for_their_status(status: int, kind: str) -> None:
    body = json.loads(messages.error_body(status, "went wrong", "some_code"))
    assert body == {"type": "error", "error": {"type": kind, "message": "went wrong"}}


def test_an_error_names_its_field() -> None:
    body = json.loads(messages.error_body(400, "must be a string", None, "messages[0].content"))
    assert body["error"]["message"] == "messages[0].content: must be a string"


# --- estimate_input_tokens ----------------------------------------------------------------


def test_the_estimate_is_a_character_bound_with_images_at_a_fixed_cost() -> None:
    body = fixture("claude_code_turn2.json")["body"]
    text = json.dumps({k: body[k] for k in ("system", "messages", "tools")}, ensure_ascii=False)
    assert messages.estimate_input_tokens(body) == math.ceil(len(text) / 4)
    huge = "A" * 400_000
    with_image = request_body(messages=[{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "image",
             "source": {"type": "base64", "media_type": "image/png", "data": huge}}]},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}])
    estimate = messages.estimate_input_tokens(with_image)
    assert 2 * 1600 < estimate < 2 * 1600 + 100
    assert messages.estimate_input_tokens("not a body") == 0
