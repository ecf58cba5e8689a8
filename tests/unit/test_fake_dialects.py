"""The fake upstream's Anthropic Messages and OpenAI Responses routes and its script hook,
read back by the official SDKs (their parsers are what real clients run)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
import requests

from tests.fakes.script import Turn
from tests.fakes.upstream import FakeUpstream

CALL = ("toolu_01", "Bash", {"command": "echo modelproxy-ok > proof.txt"})
ASK = [{"role": "user", "content": "hello there"}]


def scripted(dialect: str, body: dict[str, Any]) -> Turn:
    seen.append((dialect, body))
    return Turn("running it", [CALL])


seen: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    seen.clear()
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def claude(fake: FakeUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0,
                               timeout=5)


@pytest.fixture
def gpt(fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0, timeout=5)


def test_messages_echo_whole_and_usage(fake: FakeUpstream, claude: anthropic.Anthropic):
    reply = claude.messages.create(model="claude-x", max_tokens=64, system="be brief",
                                   messages=ASK)
    assert [b.type for b in reply.content] == ["text"]
    assert reply.content[0].text == "echo: hello there"  # type: ignore[union-attr]
    assert reply.stop_reason == "end_turn" and reply.model == "claude-x"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (4, 3)
    fake.require_api_key("sk-ant-test")  # the SDK sends it as a Bearer token, x-api-key too
    assert claude.messages.create(model="m", max_tokens=8, messages=ASK).content
    assert requests.post(fake.base_url + "/messages", headers={"x-api-key": "sk-ant-test"},
                         json={"model": "m", "messages": ASK}).status_code == 200


def test_messages_stream_event_framing(fake: FakeUpstream):
    fake.stream_chunks = 3
    resp = requests.post(fake.base_url + "/messages", json={
        "model": "m", "max_tokens": 9, "messages": ASK, "stream": True})
    events = [e for e in resp.content.split(b"\n\n") if e]
    names = [e.split(b"\n")[0].removeprefix(b"event: ").decode() for e in events]
    assert names == ["message_start", "ping", "content_block_start", *["content_block_delta"] * 3,
                     "content_block_stop", "message_delta", "message_stop"]
    datas = [json.loads(e.split(b"\n")[1].removeprefix(b"data: ")) for e in events]
    assert [d["type"] for d in datas] == names  # each event's data names it too
    assert datas[0]["message"]["usage"]["input_tokens"] == 2
    assert datas[-2]["usage"] == {"output_tokens": 3}
    assert "".join(d["delta"]["text"] for d in datas[3:6]) == "echo: hello there"


def test_messages_stream_via_sdk_with_script(fake: FakeUpstream, claude: anthropic.Anthropic):
    fake.script = scripted
    with claude.messages.stream(model="m", max_tokens=64, messages=ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "running it"
    assert final.stop_reason == "tool_use"
    tool = final.content[1]
    assert (tool.type, tool.id, tool.name, tool.input) == ("tool_use", *CALL)  # type: ignore
    assert seen[0][0] == "messages" and seen[0][1]["messages"] == ASK


def test_count_tokens_and_anthropic_models(fake: FakeUpstream, claude: anthropic.Anthropic):
    count = claude.messages.count_tokens(model="m", system="be brief", messages=ASK)
    assert count.input_tokens == 4
    models = claude.models.list()
    assert [m.id for m in models.data] == list(fake.models)
    assert models.data[0].type == "model" and models.data[0].display_name
    assert "anthropic-version" in fake.last_request.headers  # type: ignore[union-attr]
    plain = requests.get(fake.base_url + "/models").json()  # without it: OpenAI's shape
    assert plain["object"] == "list" and plain["data"][0]["object"] == "model"


def test_messages_errors_in_anthropic_shape(fake: FakeUpstream, claude: anthropic.Anthropic):
    fake.fail_next(529)
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(model="m", max_tokens=8, messages=ASK)
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    fake.require_api_key("sk-ant-right")
    with pytest.raises(anthropic.AuthenticationError) as denied:
        claude.messages.create(model="m", max_tokens=8, messages=ASK)
    assert denied.value.body["type"] == "error"  # type: ignore[index]


def test_chat_with_script_whole_and_streamed(fake: FakeUpstream, gpt: openai.OpenAI):
    fake.script = scripted
    whole = gpt.chat.completions.create(model="m", messages=ASK)  # type: ignore[arg-type]
    choice = whole.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "running it"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == CALL
    chunks = list(gpt.chat.completions.create(model="m", messages=ASK,  # type: ignore
                                              stream=True))
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert (calls[0].index, calls[0].id, calls[0].function.name) == (0, "toolu_01", "Bash")
    assert len(calls) == 3  # the name, then the arguments in two pieces
    args = "".join(tc.function.arguments or "" for tc in calls)
    assert json.loads(args) == CALL[2]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert [d for d, _ in seen] == ["chat", "chat"]


def test_responses_echo_whole(fake: FakeUpstream, gpt: openai.OpenAI):
    reply = gpt.responses.create(model="gpt-x", instructions="be brief",
                                 input=[{"role": "user", "content": [
                                     {"type": "input_text", "text": "hello there"}]}])
    assert reply.output_text == "echo: hello there"
    assert reply.status == "completed" and reply.model == "gpt-x"
    assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) \
        == (4, 3)


def test_responses_stream_with_script(fake: FakeUpstream, gpt: openai.OpenAI):
    fake.script = scripted
    events = list(gpt.responses.create(model="m", input="hello there", stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.output_text.delta" in types
    assert "response.function_call_arguments.delta" in types
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response  # type: ignore[union-attr]
    call = final.output[1]
    assert (call.type, call.call_id, call.name) == ("function_call", "toolu_01", "Bash")
    assert json.loads(call.arguments) == CALL[2]
    assert final.output_text == "running it" and final.usage.output_tokens > 0
    assert seen[0] == ("responses", fake.last_request.body)  # type: ignore[union-attr]
