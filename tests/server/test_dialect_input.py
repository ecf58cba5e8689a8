"""Bad input on the coding agents' surfaces, translated for a chat provider: POST
/v1/messages (and its token count) and POST /v1/responses. Each is a 400 in the client
dialect's error shape naming the field, one log row with status 400, and nothing the
server logs as its own error."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.server.client_fixtures import UPSTREAM_KEY
from tests.server.dialect_fixtures import DialectGateway

HELLO_MESSAGES = {"model": "coder", "max_tokens": 100,
                  "messages": [{"role": "user", "content": "hello there"}]}
HELLO_RESPONSES = {"model": "coder", "input": "hello there"}
CALL = {"role": "assistant", "content": [
    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]}


@pytest.fixture(autouse=True)
def no_server_error(dialects: DialectGateway) -> Iterator[None]:
    """What the server printed during the test has no error of its own."""
    live = dialects.appliance.live
    before = len(live.output)
    yield
    printed = live.output[before:]
    assert "Traceback" not in printed and "unhandled error" not in printed, printed[-3000:]


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    for key, value in changes.items():
        if value is _DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


_DROP = object()


def _user(*blocks: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(blocks)}]


def post(gw: DialectGateway, path: str, body: Any, **headers: str) -> requests.Response:
    rid = "bad-" + uuid.uuid4().hex
    return requests.post(gw.url + path, json=body, timeout=10, headers={
        "x-api-key": gw.token.plaintext, "anthropic-version": "2023-06-01",
        "X-Request-ID": rid, **headers})


def assert_anthropic_400(gw: DialectGateway, response: requests.Response,
                         field: str | None) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"type", "error"} and body["type"] == "error", body
    assert body["error"]["type"] == "invalid_request_error", body
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    if field is not None:
        assert field in message, (field, message)
    _one_400_row(gw, response)
    return message


def assert_openai_400(gw: DialectGateway, response: requests.Response,
                      field: str | None) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["type"] == "invalid_request_error" and error["message"], error
    if field is not None:
        assert error.get("param") == field, (field, error)
    _one_400_row(gw, response)
    return error


def _one_400_row(gw: DialectGateway, response: requests.Response) -> None:
    assert "Traceback" not in response.text and UPSTREAM_KEY not in response.text
    row = gw.appliance.log_row(response.request.headers["X-Request-ID"])
    assert row["status"] == 400 and row["error"], row


# --- /v1/messages -------------------------------------------------------------------

MESSAGES_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    # content blocks
    ("text block without text", {"messages": _user({"type": "text"})},
     "messages[0].content[0].text"),
    ("text not a string", {"messages": _user({"type": "text", "text": 5})},
     "messages[0].content[0].text"),
    ("text null", {"messages": _user({"type": "text", "text": None})},
     "messages[0].content[0].text"),
    ("block not an object", {"messages": _user(5)}, "messages[0].content[0]"),
    ("block a list", {"messages": _user(["text"])}, "messages[0].content[0]"),
    ("block type missing", {"messages": _user({"text": "hi"})},
     "messages[0].content[0].type"),
    ("block type a number", {"messages": _user({"type": 5})},
     "messages[0].content[0].type"),
    ("unknown block type", {"messages": _user({"type": "no-such-block"})},
     "messages[0].content[0].type"),
    ("document block", {"messages": _user({"type": "document", "source": {}})},
     "messages[0].content[0]"),
    ("image without source", {"messages": _user({"type": "image"})},
     "messages[0].content[0].source"),
    ("image source a string", {"messages": _user({"type": "image", "source": "x.png"})},
     "messages[0].content[0].source"),
    ("image source of a file id", {"messages": _user(
        {"type": "image", "source": {"type": "file", "file_id": "f"}})},
     "messages[0].content[0].source.type"),
    ("image base64 without data", {"messages": _user(
        {"type": "image", "source": {"type": "base64", "media_type": "image/png"}})},
     "messages[0].content[0].source.data"),
    ("image url not a string", {"messages": _user(
        {"type": "image", "source": {"type": "url", "url": ["x"]}})},
     "messages[0].content[0].source.url"),
    ("tool_use in a user turn", {"messages": _user(
        {"type": "tool_use", "id": "t", "name": "f", "input": {}})},
     "messages[0].content[0].type"),
    ("tool_use without id", {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}]},
     "messages[1].content[0].id"),
    ("tool_use input a list", {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t", "name": "f", "input": [1]}]}]},
     "messages[1].content[0].input"),
    ("tool_result with no matching call", {"messages": _user(
        {"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"})},
     "messages[0].content[0].tool_use_id"),
    ("tool_result for a later call", {"messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
        CALL]}, "messages[0].content[0].tool_use_id"),
    ("tool_result id not a string", {"messages": [CALL, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": 1}]}]},
     "messages[1].content[0].tool_use_id"),
    ("tool_result content a number", {"messages": [CALL, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": 5}]}]},
     "messages[1].content[0].content"),
    ("tool_result content of unknown blocks", {"messages": [CALL, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1",
         "content": [{"type": "tool_use"}]}]}]}, "messages[1].content[0].content[0]"),
    ("tool_result is_error a string", {"messages": [CALL, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": "yes"}]}]},
     "messages[1].content[0].is_error"),
    ("tool_result in an assistant turn", {"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": [
            {"type": "tool_result", "tool_use_id": "x"}]}]}, "messages[1].content[0].type"),
    ("thinking without its text", {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "signature": "s"}]}]},
     "messages[1].content[0].thinking"),
    # messages
    ("messages missing", {"messages": _DROP}, "messages"),
    ("messages a string", {"messages": "hello"}, "messages"),
    ("messages an object", {"messages": {"role": "user"}}, "messages"),
    ("message not an object", {"messages": [5]}, "messages[0]"),
    ("message role unknown", {"messages": [{"role": "bot", "content": "x"}]},
     "messages[0].role"),
    ("message role missing", {"messages": [{"content": "x"}]}, "messages[0].role"),
    ("message content missing", {"messages": [{"role": "user"}]}, "messages[0].content"),
    ("message content a number", {"messages": [{"role": "user", "content": 5}]},
     "messages[0].content"),
    ("message content an object", {"messages": [{"role": "user", "content": {"text": "x"}}]},
     "messages[0].content"),
    # system
    ("system a number", {"system": 5}, "system"),
    ("system an object", {"system": {"type": "text", "text": "x"}}, "system"),
    ("system of images", {"system": [{"type": "image"}]}, "system[0].type"),
    ("system block without text", {"system": [{"type": "text"}]}, "system[0].text"),
    # tools
    ("tools an object", {"tools": {"name": "f"}}, "tools"),
    ("tool not an object", {"tools": [5]}, "tools[0]"),
    ("tool name missing", {"tools": [{"input_schema": {}}]}, "tools[0].name"),
    ("tool name a number", {"tools": [{"name": 5}]}, "tools[0].name"),
    ("tool schema a string", {"tools": [{"name": "f", "input_schema": "x"}]},
     "tools[0].input_schema"),
    ("tool description a list", {"tools": [{"name": "f", "description": ["x"]}]},
     "tools[0].description"),
    ("tool strict a string", {"tools": [{"name": "f", "strict": "yes"}]}, "tools[0].strict"),
    ("server tool", {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
     "tools[0]"),
    ("tool_choice a string", {"tool_choice": "auto"}, "tool_choice"),
    ("tool_choice type a number", {"tool_choice": {"type": 5}}, "tool_choice.type"),
    ("tool_choice type unknown", {"tool_choice": {"type": "some"}}, "tool_choice.type"),
    ("tool_choice tool without name", {"tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ("tool_choice parallel a string", {"tool_choice": {
        "type": "auto", "disable_parallel_tool_use": "no"}},
     "tool_choice.disable_parallel_tool_use"),
    # settings
    ("max_tokens a string", {"max_tokens": "100"}, "max_tokens"),
    ("max_tokens a fraction", {"max_tokens": 1.5}, "max_tokens"),
    ("max_tokens a boolean", {"max_tokens": True}, "max_tokens"),
    ("max_tokens zero", {"max_tokens": 0}, "max_tokens"),
    ("max_tokens negative", {"max_tokens": -5}, "max_tokens"),
    ("temperature a string", {"temperature": "hot"}, "temperature"),
    ("temperature a boolean", {"temperature": False}, "temperature"),
    ("top_p a list", {"top_p": [1]}, "top_p"),
    ("top_k a string", {"top_k": "5"}, "top_k"),
    ("stop_sequences a string", {"stop_sequences": "STOP"}, "stop_sequences"),
    ("stop_sequences of numbers", {"stop_sequences": [1]}, "stop_sequences[0]"),
    ("metadata a string", {"metadata": "x"}, "metadata"),
    ("metadata user_id a number", {"metadata": {"user_id": 5}}, "metadata.user_id"),
    ("thinking a boolean", {"thinking": True}, "thinking"),
    ("thinking type unknown", {"thinking": {"type": "lots"}}, "thinking.type"),
    ("thinking budget missing", {"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    ("thinking budget a string", {"thinking": {"type": "enabled", "budget_tokens": "big"}},
     "thinking.budget_tokens"),
    ("output_config a list", {"output_config": []}, "output_config"),
    ("effort unknown", {"output_config": {"effort": "extreme"}}, "output_config.effort"),
    ("format schema missing", {"output_config": {"format": {"type": "json_schema"}}},
     "output_config.format.schema"),
    ("mcp servers", {"mcp_servers": [{"url": "x"}]}, "mcp_servers"),
    ("stream a string", {"stream": "yes"}, "stream"),
    ("stream a number", {"stream": 1}, "stream"),
    ("stream null", {"stream": None}, "stream"),
    # model
    ("model missing", {"model": _DROP}, "model"),
    ("model a number", {"model": 5}, "model"),
    ("model a list", {"model": ["coder"]}, "model"),
    ("model empty", {"model": ""}, "model"),
]


@pytest.mark.parametrize("changes, field", [(c, f) for _, c, f in MESSAGES_CASES],
                         ids=[name for name, _, _ in MESSAGES_CASES])
def test_bad_messages_request_is_a_400_naming_the_field(
        dialects: DialectGateway, changes: dict[str, Any], field: str) -> None:
    response = post(dialects, "/v1/messages", _with(HELLO_MESSAGES, **changes))
    assert_anthropic_400(dialects, response, field)
    assert not dialects.fake.requests, "a bad request went upstream"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["coder", "claude"])
def test_a_stream_that_is_not_a_bool_is_a_400_either_way(
        dialects: DialectGateway, model: str, stream: bool) -> None:
    body = _with(HELLO_MESSAGES, model=model, stream="true" if stream else 0)
    assert_anthropic_400(dialects, post(dialects, "/v1/messages", body), "stream")


@pytest.mark.parametrize("changes, field", [
    ({"messages": _user({"type": "nope"})}, "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_result",
                                                 "tool_use_id": "x"}]}]},
     "messages[0].content[0].tool_use_id"),
    ({"model": 5}, "model"),
    ({"tools": [5]}, "tools[0]"),
], ids=["unknown block", "result without call", "model", "tool"])
def test_bad_count_tokens_request_is_a_400(dialects: DialectGateway,
                                           changes: dict[str, Any], field: str) -> None:
    body = _with(HELLO_MESSAGES, **changes)
    assert_anthropic_400(dialects, post(dialects, "/v1/messages/count_tokens", body), field)


# --- /v1/responses ------------------------------------------------------------------

RESPONSES_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("input missing", {"input": _DROP}, "input"),
    ("input a number", {"input": 5}, "input"),
    ("input an object", {"input": {"role": "user"}}, "input"),
    ("item not an object", {"input": [5]}, "input[0]"),
    ("item type a number", {"input": [{"type": 5}]}, "input[0].type"),
    ("unknown item type", {"input": [{"type": "no_such_item"}]}, "input[0].type"),
    ("hosted item", {"input": [{"type": "web_search_call", "id": "ws"}]}, "input[0].type"),
    ("item reference", {"input": [{"type": "item_reference", "id": "msg_1"}]},
     "input[0].type"),
    ("message role unknown", {"input": [{"role": "bot", "content": "x"}]}, "input[0].role"),
    ("message role missing", {"input": [{"type": "message", "content": "x"}]},
     "input[0].role"),
    ("message content a number", {"input": [{"role": "user", "content": 5}]},
     "input[0].content"),
    ("message content missing", {"input": [{"role": "user"}]}, "input[0].content"),
    ("part not an object", {"input": [{"role": "user", "content": ["hi"]}]},
     "input[0].content[0]"),
    ("part type unknown", {"input": [{"role": "user", "content": [{"type": "text"}]}]},
     "input[0].content[0].type"),
    ("part text missing", {"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
     "input[0].content[0].text"),
    ("part text a number", {"input": [{"role": "user", "content": [
        {"type": "input_text", "text": 1}]}]}, "input[0].content[0].text"),
    ("image without url", {"input": [{"role": "user", "content": [
        {"type": "input_image"}]}]}, "input[0].content[0].image_url"),
    ("image url an object", {"input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": {"url": "x"}}]}]},
     "input[0].content[0].image_url"),
    ("image by file id", {"input": [{"role": "user", "content": [
        {"type": "input_image", "file_id": "file_1"}]}]}, "input[0].content[0].file_id"),
    ("file part", {"input": [{"role": "user", "content": [
        {"type": "input_file", "file_id": "file_1"}]}]}, "input[0].content[0].type"),
    ("system message with an image", {"input": [{"role": "system", "content": [
        {"type": "input_image", "image_url": "http://x/y.png"}]}]}, "input[0].content"),
    ("call output with no matching call", {"input": [
        {"type": "function_call_output", "call_id": "call_nowhere", "output": "x"}]},
     "input[0].call_id"),
    ("call output before its call", {"input": [
        {"type": "function_call_output", "call_id": "call_1", "output": "x"},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}]},
     "input[0].call_id"),
    ("call output without call id", {"input": [
        {"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
    ("call output a number", {"input": [
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": 5}]},
     "input[1].output"),
    ("call output of bad parts", {"input": [
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": [{"type": "x"}]}]},
     "input[1].output[0].type"),
    ("call name a number", {"input": [
        {"type": "function_call", "call_id": "call_1", "name": 5, "arguments": "{}"}]},
     "input[0].name"),
    ("call arguments an object", {"input": [
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": {}}]},
     "input[0].arguments"),
    ("call id missing", {"input": [{"type": "function_call", "name": "f"}]},
     "input[0].call_id"),
    ("reasoning summary a string", {"input": [{"type": "reasoning", "summary": "x"}]},
     "input[0].summary"),
    ("reasoning summary of numbers", {"input": [{"type": "reasoning", "summary": [1]}]},
     "input[0].summary[0]"),
    ("reasoning encrypted a number", {"input": [
        {"type": "reasoning", "summary": [], "encrypted_content": 5}]},
     "input[0].encrypted_content"),
    ("instructions a list", {"instructions": ["x"]}, "instructions"),
    ("tools an object", {"tools": {"type": "function"}}, "tools"),
    ("tool not an object", {"tools": ["f"]}, "tools[0]"),
    ("tool type missing", {"tools": [{"name": "f"}]}, "tools[0].type"),
    ("hosted tool", {"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ("file search tool", {"tools": [{"type": "file_search"}]}, "tools[0].type"),
    ("tool name missing", {"tools": [{"type": "function"}]}, "tools[0].name"),
    ("tool parameters a string", {"tools": [
        {"type": "function", "name": "f", "parameters": "x"}]}, "tools[0].parameters"),
    ("tool description a number", {"tools": [
        {"type": "function", "name": "f", "description": 5}]}, "tools[0].description"),
    ("namespace without tools", {"tools": [{"type": "namespace", "name": "ns"}]},
     "tools[0].tools"),
    ("namespace of bad tools", {"tools": [
        {"type": "namespace", "name": "ns", "tools": [5]}]}, "tools[0].tools[0]"),
    ("tool_choice a number", {"tool_choice": 5}, "tool_choice"),
    ("tool_choice unknown", {"tool_choice": "some"}, "tool_choice"),
    ("tool_choice function without name", {"tool_choice": {"type": "function"}},
     "tool_choice.name"),
    ("parallel_tool_calls a string", {"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ("max_output_tokens a string", {"max_output_tokens": "100"}, "max_output_tokens"),
    ("max_output_tokens a fraction", {"max_output_tokens": 1.5}, "max_output_tokens"),
    ("max_output_tokens zero", {"max_output_tokens": 0}, "max_output_tokens"),
    ("max_output_tokens a boolean", {"max_output_tokens": True}, "max_output_tokens"),
    ("temperature a string", {"temperature": "hot"}, "temperature"),
    ("top_p an object", {"top_p": {}}, "top_p"),
    ("reasoning a string", {"reasoning": "high"}, "reasoning"),
    ("effort unknown", {"reasoning": {"effort": "extreme"}}, "reasoning.effort"),
    ("effort a number", {"reasoning": {"effort": 3}}, "reasoning.effort"),
    ("text a string", {"text": "json"}, "text"),
    ("text format a string", {"text": {"format": "json"}}, "text.format.type"),
    ("text format unknown", {"text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ("text schema missing", {"text": {"format": {"type": "json_schema", "name": "x"}}},
     "text.format.schema"),
    ("text format name a number", {"text": {"format": {
        "type": "json_schema", "name": 5, "schema": {}}}}, "text.format.name"),
    ("user a number", {"user": 5}, "user"),
    ("previous response", {"previous_response_id": "resp_1"}, "previous_response_id"),
    ("stored", {"store": True}, "store"),
    ("background", {"background": True}, "background"),
    ("conversation", {"conversation": "conv_1"}, "conversation"),
    ("stream a string", {"stream": "yes"}, "stream"),
    ("stream a number", {"stream": 1}, "stream"),
    ("model missing", {"model": _DROP}, "model"),
    ("model a number", {"model": 5}, "model"),
    ("model an object", {"model": {"name": "coder"}}, "model"),
]


@pytest.mark.parametrize("changes, field", [(c, f) for _, c, f in RESPONSES_CASES],
                         ids=[name for name, _, _ in RESPONSES_CASES])
def test_bad_responses_request_is_a_400_naming_the_field(
        dialects: DialectGateway, changes: dict[str, Any], field: str) -> None:
    response = post(dialects, "/v1/responses", _with(HELLO_RESPONSES, **changes))
    assert_openai_400(dialects, response, field)
    assert not dialects.fake.requests, "a bad request went upstream"


# --- whole bodies -------------------------------------------------------------------

NOT_OBJECTS = [b"[]", b'"hello"', b"5", b"null", b"true", b"", b"{", b"\xff\xfe",
               b'{"model": "coder"', b"[" * 5000 + b"]" * 5000]


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens",
                                  "/v1/responses"])
@pytest.mark.parametrize("raw", NOT_OBJECTS, ids=lambda r: repr(r[:12]))
def test_a_body_that_is_not_a_json_object_is_a_400(dialects: DialectGateway, path: str,
                                                   raw: bytes) -> None:
    rid = "raw-" + uuid.uuid4().hex
    response = requests.post(dialects.url + path, data=raw, timeout=10, headers={
        "x-api-key": dialects.token.plaintext, "Content-Type": "application/json",
        "X-Request-ID": rid})
    if path == "/v1/responses":
        assert_openai_400(dialects, response, None)
    else:
        assert_anthropic_400(dialects, response, None)


NESTED = "\x00NESTED\x00"


def _nested_json(depth: int) -> str:
    """`{"a": [{"a": [... "deep" ...]}]}` `depth` levels deep, as text (the json module
    cannot write what it cannot recurse into)."""
    return '{"a": [' * depth + '"deep"' + "]}" * depth


@pytest.mark.parametrize("depth", [30, 60, 5000])
@pytest.mark.parametrize("path, base, where", [
    ("/v1/messages", HELLO_MESSAGES, "tools"),
    ("/v1/messages/count_tokens", HELLO_MESSAGES, "tools"),
    ("/v1/messages", HELLO_MESSAGES, "metadata"),
    ("/v1/responses", HELLO_RESPONSES, "tools"),
    ("/v1/responses", HELLO_RESPONSES, "metadata"),
])
def test_huge_nesting_is_refused_or_served_never_a_server_error(
        dialects: DialectGateway, path: str, base: dict[str, Any], where: str,
        depth: int) -> None:
    """Deep JSON schemas (tools) and metadata: a nesting the parser allows is served;
    past its limit, a 400. Never a 500 or a server error in the log."""
    if where == "tools" and "responses" in path:
        extra = {"tools": [{"type": "function", "name": "f", "parameters": NESTED}]}
    elif where == "tools":
        extra = {"tools": [{"name": "f", "input_schema": NESTED}]}
    else:
        extra = {"metadata": {"deep": NESTED}}
    raw = json.dumps(_with(base, **extra)).replace(json.dumps(NESTED), _nested_json(depth))
    rid = "deep-" + uuid.uuid4().hex
    response = requests.post(dialects.url + path, data=raw, timeout=10, headers={
        "x-api-key": dialects.token.plaintext, "Content-Type": "application/json",
        "X-Request-ID": rid})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert "nested" in response.text
    assert dialects.appliance.log_row(rid)["status"] == response.status_code


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"NaN", b"Infinity"])
@pytest.mark.parametrize("path, field", [("/v1/responses", "max_output_tokens"),
                                         ("/v1/responses", "temperature"),
                                         ("/v1/messages", "max_tokens"),
                                         ("/v1/messages", "temperature"),
                                         ("/v1/chat/completions", "temperature")])
def test_numbers_json_cannot_carry_are_a_400(dialects: DialectGateway, path: str,
                                            field: str, literal: bytes) -> None:
    """Python's parser reads 1e400 as infinity and takes NaN; neither is a number a
    provider can be sent (its JSON has no such values)."""
    base = {"/v1/responses": HELLO_RESPONSES, "/v1/messages": HELLO_MESSAGES}.get(
        path, {**HELLO_MESSAGES, "model": "claude"})  # chat, translated for Anthropic
    raw = json.dumps(base)[:-1].encode() + b', "' + field.encode() + b'": ' + literal + b"}"
    rid = "num-" + uuid.uuid4().hex
    response = requests.post(dialects.url + path, data=raw, timeout=10, headers={
        "x-api-key": dialects.token.plaintext, "Content-Type": "application/json",
        "X-Request-ID": rid})
    if "messages" in path:
        assert_anthropic_400(dialects, response, None)
    else:
        assert_openai_400(dialects, response, None)
    assert not dialects.fake.requests
