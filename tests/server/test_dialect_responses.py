"""POST /v1/responses, driven by the official openai SDK's Responses API, to a chat
provider (translated), an Anthropic one (translated) and an OpenAI one (passed through)."""

from __future__ import annotations

import json
import uuid

import openai
import pytest
import requests

from tests.server.dialect_fixtures import DialectGateway

WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


def new_rid() -> str:
    return "test-" + uuid.uuid4().hex


def client(gw: DialectGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.token.plaintext, max_retries=0)


@pytest.mark.parametrize("model", ["coder", "claude", "oai"])
def test_responses_create(dialects: DialectGateway, model: str) -> None:
    rid = new_rid()
    response = client(dialects).responses.create(model=model, input="hello there",
                                                 instructions="Be brief.",
                                                 extra_headers={"X-Request-ID": rid})
    assert response.status == "completed"
    assert response.output_text == "echo: hello there"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    row = dialects.appliance.log_row(rid)
    assert row["status"] == 200 and row["client_dialect"] == "responses"
    assert row["provider_dialect"] == {"coder": "chat", "claude": "messages",
                                       "oai": "responses"}[model]


@pytest.mark.parametrize("model", ["coder", "claude", "oai"])
def test_responses_stream_ends_with_completed_and_usage(dialects: DialectGateway,
                                                        model: str) -> None:
    rid = new_rid()
    events = list(client(dialects).responses.create(model=model, input="hello there",
                                                    stream=True,
                                                    extra_headers={"X-Request-ID": rid}))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "echo: hello there"
    assert events[-1].response.usage.output_tokens > 0
    assert [e.sequence_number for e in events] == sorted(e.sequence_number for e in events)
    row = dialects.appliance.log_row(rid)
    assert row["status"] == 200 and not row["usage_estimated"]


@pytest.mark.parametrize("model", ["coder", "claude"])
@pytest.mark.parametrize("stream", [False, True])
def test_function_call_round_trip(dialects: DialectGateway, model: str, stream: bool) -> None:
    dialects.script.tool_calls.append(("call_01", "get_weather", {"city": "Paris"}))
    sdk = client(dialects)
    ask = {"model": model, "input": "weather in Paris?", "tools": [WEATHER]}
    if stream:
        with sdk.responses.stream(**ask) as events:
            first = events.get_final_response()
    else:
        first = sdk.responses.create(**ask)
    [call] = [item for item in first.output if item.type == "function_call"]
    assert (call.call_id, call.name, json.loads(call.arguments)) == (
        "call_01", "get_weather", {"city": "Paris"})
    answer = sdk.responses.create(model=model, tools=[WEATHER], input=[
        {"role": "user", "content": "weather in Paris?"},
        {"type": "function_call", "call_id": "call_01", "name": "get_weather",
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": "call_01", "output": "sunny, 21 C"}])
    assert answer.output_text == "echo: sunny, 21 C"


def test_stored_state_is_refused_when_translated(dialects: DialectGateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(dialects).responses.create(model="coder", input="hi",
                                          previous_response_id="resp_123")
    assert caught.value.body["param"] == "previous_response_id"


def test_a_stream_cut_upstream_ends_with_response_failed(dialects: DialectGateway) -> None:
    dialects.fake.fail_mid_stream(after=1)
    response = requests.post(dialects.url + "/v1/responses", json={
        "model": "coder", "input": "a longer answer to cut in the middle", "stream": True},
        headers={"Authorization": f"Bearer {dialects.token.plaintext}"}, timeout=10)
    events = [json.loads(line[6:]) for line in response.text.splitlines()
              if line.startswith("data: ")]
    assert events[-1]["type"] == "response.failed"
    assert dialects.appliance.log_row(response.headers["X-Request-ID"])["status"] == 502


def test_a_passed_through_stream_cut_upstream_ends_that_response(
        dialects: DialectGateway) -> None:
    """To an OpenAI provider the provider's events go on as they are; when it breaks off,
    the failure ends the response it began, not a second one (Codex keeps one per turn)."""
    dialects.fake.fail_mid_stream(after=2)
    response = requests.post(dialects.url + "/v1/responses", json={
        "model": "oai", "input": "a longer answer to cut in the middle", "stream": True},
        headers={"Authorization": f"Bearer {dialects.token.plaintext}"}, timeout=10)
    events = [json.loads(line[6:]) for line in response.text.splitlines()
              if line.startswith("data: ")]
    types = [e["type"] for e in events]
    assert types.count("response.created") == 1, types
    assert types[-1] == "response.failed"
    assert events[-1]["response"]["id"] == events[0]["response"]["id"]
    assert dialects.appliance.log_row(response.headers["X-Request-ID"])["status"] == 502
