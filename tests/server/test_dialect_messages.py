"""POST /v1/messages and /v1/messages/count_tokens, driven by the official anthropic SDK,
to a chat provider (translated) and to an Anthropic provider (passed through)."""

from __future__ import annotations

import json
import uuid

import anthropic
import pytest
import requests

from tests.server.client_fixtures import UPSTREAM_KEY
from tests.server.dialect_fixtures import DialectGateway

WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


def client(gw: DialectGateway, **kwargs: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=gw.token.plaintext, max_retries=0,
                               **kwargs)


def hello(model: str = "coder", **extra: object) -> dict:
    return {"model": model, "max_tokens": 100,
            "messages": [{"role": "user", "content": "hello there"}], **extra}


@pytest.mark.parametrize("model", ["coder", "claude-sonnet-4-5", "claude"])
def test_messages_create(dialects: DialectGateway, model: str) -> None:
    rid = {"X-Request-ID": "test-" + uuid.uuid4().hex}
    message = client(dialects).messages.create(**hello(model), extra_headers=rid)
    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "echo: hello there"
    assert message.stop_reason == "end_turn"
    # Translated, the client's name for the model; passed through, the provider's bytes.
    assert message.model == ("claude-upstream" if model == "claude" else model)
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    row = dialects.appliance.log_row(rid["X-Request-ID"])
    assert row["status"] == 200 and row["prompt_tokens"] > 0
    assert row["client_dialect"] == "messages"
    assert row["provider_dialect"] == ("messages" if model == "claude" else "chat")


@pytest.mark.parametrize("model", ["coder", "claude"])
def test_messages_stream(dialects: DialectGateway, model: str) -> None:
    rid = {"X-Request-ID": "test-" + uuid.uuid4().hex}
    with client(dialects).messages.stream(**hello(model), extra_headers=rid) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: hello there"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    row = dialects.appliance.log_row(rid["X-Request-ID"])
    assert row["status"] == 200 and row["stream"] and not row["usage_estimated"]


@pytest.mark.parametrize("model", ["coder", "claude"])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_round_trip(dialects: DialectGateway, model: str, stream: bool) -> None:
    dialects.script.tool_calls.append(("toolu_01", "get_weather", {"city": "Paris"}))
    sdk = client(dialects)
    ask = hello(model, tools=[WEATHER],
                messages=[{"role": "user", "content": "weather in Paris?"}])
    if stream:
        with sdk.messages.stream(**ask) as events:
            first = events.get_final_message()
    else:
        first = sdk.messages.create(**ask)
    assert first.stop_reason == "tool_use"
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert (use.id, use.name, use.input) == ("toolu_01", "get_weather", {"city": "Paris"})
    upstream_dialect, upstream = dialects.script.seen[-1]
    tools = upstream["tools"]
    assert (tools[0]["function"]["name"] if upstream_dialect == "chat"
            else tools[0]["name"]) == "get_weather"
    answer = sdk.messages.create(**hello(model, tools=[WEATHER], messages=[
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True)
                                          for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01",
                                      "content": "sunny, 21 C"}]}]))
    assert answer.content[0].text == "echo: sunny, 21 C"


def test_system_prompt_and_images_reach_a_chat_provider(dialects: DialectGateway) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}}
    client(dialects).messages.create(**hello(system="Be brief.", messages=[
        {"role": "user", "content": [image, {"type": "text", "text": "what is it?"}]}]))
    dialect, upstream = dialects.script.seen[-1]
    assert dialect == "chat"
    system, user = upstream["messages"]
    assert system["role"] == "system" and "Be brief." in json.dumps(system)
    assert user["content"][0]["image_url"]["url"] == "data:image/png;base64,iVBORw0KGgo="


def test_count_tokens_estimated_for_a_chat_provider(dialects: DialectGateway) -> None:
    long_text = "word " * 2000
    response = requests.post(dialects.url + "/v1/messages/count_tokens", json={
        "model": "coder", "messages": [{"role": "user", "content": long_text}]},
        headers={"x-api-key": dialects.token.plaintext, "anthropic-version": "2023-06-01"},
        timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["X-ModelProxy-Token-Count"] == "estimate"
    assert response.json()["input_tokens"] >= len(long_text) // 4


def test_count_tokens_exact_from_an_anthropic_provider(dialects: DialectGateway) -> None:
    counted = client(dialects).messages.count_tokens(
        model="claude", messages=[{"role": "user", "content": "hello there"}])
    assert counted.input_tokens > 0
    request = dialects.fake.last_request
    assert request.path.endswith("/messages/count_tokens")
    assert request.body["model"] == "claude-upstream"


def test_anthropic_beta_and_key_reach_an_anthropic_provider(dialects: DialectGateway) -> None:
    client(dialects, default_headers={"anthropic-beta": "fine-grained-tool-streaming-2025-05-14"}
           ).messages.create(**hello("claude"))
    request = dialects.fake.last_request
    assert request.headers["anthropic-beta"] == "fine-grained-tool-streaming-2025-05-14"
    assert request.headers["x-api-key"] == UPSTREAM_KEY
    assert request.body["model"] == "claude-upstream"


def test_a_chat_client_reaches_an_anthropic_provider(dialects: DialectGateway) -> None:
    response = requests.post(dialects.url + "/v1/chat/completions", json={
        "model": "claude", "messages": [{"role": "user", "content": "hello there"}]},
        headers={"Authorization": f"Bearer {dialects.token.plaintext}"}, timeout=10)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["choices"][0]["message"]["content"] == "echo: hello there"
    assert dialects.script.seen[-1][0] == "messages"


def test_errors_are_in_anthropic_shape(dialects: DialectGateway) -> None:
    sdk = client(dialects)
    with pytest.raises(anthropic.BadRequestError) as bad:
        sdk.messages.create(model="coder", max_tokens=10, messages=[
            {"role": "user", "content": [{"type": "no-such-block"}]}])
    assert bad.value.body["type"] == "error"
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    assert "messages[0].content[0]" in bad.value.body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk.messages.create(**hello("no-such-model"))
    assert missing.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=dialects.url, api_key="mpx_wrong",
                            max_retries=0).messages.create(**hello())


def test_models_in_anthropic_shape(dialects: DialectGateway) -> None:
    models = client(dialects).models.list()
    ids = [m.id for m in models.data]
    assert {"coder", "claude-sonnet-4-5", "claude", "oai"} <= set(ids)
    assert all(m.type == "model" for m in models.data)


def test_upstream_overloaded_is_retryable(dialects: DialectGateway) -> None:
    dialects.fake.fail_next(529, {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}})
    with pytest.raises(anthropic.InternalServerError) as caught:
        client(dialects).messages.create(**hello("claude"))
    assert caught.value.status_code == 503
    assert caught.value.response.headers.get("Retry-After")
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_rows_carry_dialects_and_the_agent_session(dialects: DialectGateway) -> None:
    rid = "test-" + uuid.uuid4().hex
    response = requests.post(dialects.url + "/v1/chat/completions", json={
        "model": "coder", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {dialects.token.plaintext}", "X-Request-ID": rid,
                 "session-id": "codex-session-1"}, timeout=10)
    assert response.status_code == 200
    row = dialects.appliance.log_row(rid)
    assert (row["client_dialect"], row["provider_dialect"], row["agent_session"]) == (
        "chat", "chat", "codex-session-1")
    rid = "test-" + uuid.uuid4().hex
    client(dialects).messages.create(**hello(), extra_headers={
        "X-Request-ID": rid, "X-Claude-Code-Session-Id": "claude-session-1"})
    assert dialects.appliance.log_row(rid)["agent_session"] == "claude-session-1"


@pytest.mark.parametrize("model, upstream", [("coder", "chat"), ("claude", "messages")])
def test_chat_completions_rows_name_their_dialects(dialects: DialectGateway, model: str,
                                                   upstream: str) -> None:
    """Chat passed through (the hot path) and chat translated alike: both dialects on the
    row, and the agent's session."""
    rid = "test-" + uuid.uuid4().hex
    answer = requests.post(dialects.url + "/v1/chat/completions", json={
        "model": model, "messages": [{"role": "user", "content": "hello there"}]},
        headers={"Authorization": f"Bearer {dialects.token.plaintext}", "X-Request-ID": rid,
                 "session-id": "s-42"}, timeout=10)
    assert answer.status_code == 200, answer.text
    row = dialects.appliance.log_row(rid)
    assert (row["client_dialect"], row["provider_dialect"], row["agent_session"]) == \
        ("chat", upstream, "s-42")


def test_refusals_and_counts_name_the_dialect_and_session(dialects: DialectGateway) -> None:
    """A refused request (an unknown model) and a token count are found by the Logs
    page's dialect and session filters like any other."""
    sdk = client(dialects)
    rid = "test-" + uuid.uuid4().hex
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.create(**hello("no-such-model"), extra_headers={
            "X-Request-ID": rid, "X-Claude-Code-Session-Id": "s-404"})
    row = dialects.appliance.log_row(rid)
    assert (row["status"], row["client_dialect"], row["agent_session"]) == (
        404, "messages", "s-404")
    rid = "test-" + uuid.uuid4().hex
    sdk.messages.count_tokens(model="coder", messages=[{"role": "user", "content": "hi"}],
                              extra_headers={"X-Request-ID": rid,
                                             "X-Claude-Code-Session-Id": "s-count"})
    row = dialects.appliance.log_row(rid)
    assert (row["client_dialect"], row["agent_session"]) == ("messages", "s-count")
