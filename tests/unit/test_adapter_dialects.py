"""Adapters by dialect (server/providers/base.py): send() / open_stream() of the OpenAI
adapters against the fake upstream (chat completions, and the Responses API for openai),
per-request headers, refused dialects, the echo adapter, and a plug-in adapter written
before dialects (chat only, through its chat())."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from server.providers import ProviderConfig, Stream, UpstreamError, adapter_for
from server.providers.base import Adapter
from server.providers.echo import EchoStream
from tests.fakes.upstream import FakeUpstream

CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "hello there"}]}
RESPONSES = {"model": "gpt-x", "input": "hello there"}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


def adapter(fake: FakeUpstream, type_name: str) -> Adapter:
    return adapter_for(ProviderConfig(id=1, name="up", type=type_name, base_url=fake.base_url,
                                      api_key="sk-test-key-000000", timeout_s=5))


def data_of(events: list[bytes]) -> list[Any]:
    lines = [line for e in events for line in e.split(b"\n") if line.startswith(b"data: ")]
    return [line[6:].decode() if line == b"data: [DONE]" else json.loads(line[6:])
            for line in lines]


def test_dialects_by_type(fake: FakeUpstream):
    spoken = {t: adapter(fake, t).dialects
              for t in ("openai", "openrouter", "openai_compatible", "echo", "anthropic")}
    assert spoken == {"openai": ("chat", "responses"), "openrouter": ("chat",),
                      "openai_compatible": ("chat",), "echo": ("chat",),
                      "anthropic": ("messages",)}


@pytest.mark.parametrize("type_name", ["openai", "openrouter", "openai_compatible"])
def test_send_chat_posts_chat_completions(fake: FakeUpstream, type_name: str):
    up = adapter(fake, type_name)
    answer = up.send("chat", CHAT, "req-1", headers={"X-Trace": "t1"})
    assert answer["choices"][0]["message"]["content"] == "echo: hello there"
    sent = fake.last_request
    assert sent is not None and sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-key-000000"
    assert sent.headers["x-trace"] == "t1" and sent.headers["x-request-id"] == "req-1"
    stream = up.open_stream("chat", {**CHAT, "stream": True}, "req-2")
    chunks = data_of(list(stream))
    assert chunks[-1] == "[DONE]"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]
                   if c["choices"]) == "echo: hello there"
    assert "x-trace" not in fake.last_request.headers  # type: ignore[union-attr]


def test_openai_translated_chat_sends_max_completion_tokens(fake: FakeUpstream):
    """OpenAI's reasoning models refuse max_tokens; a chat client's own body (chat()) and
    other chat providers keep what they were given."""
    up = adapter(fake, "openai")
    up.send("chat", {**CHAT, "max_tokens": 50}, "r1")
    assert fake.last_request.body["max_completion_tokens"] == 50  # type: ignore[union-attr]
    assert "max_tokens" not in fake.last_request.body  # type: ignore[union-attr]
    list(up.open_stream("chat", {**CHAT, "max_tokens": 60, "stream": True}, "r2"))
    assert fake.last_request.body["max_completion_tokens"] == 60  # type: ignore[union-attr]
    up.chat({**CHAT, "max_tokens": 70}, "r3")
    assert fake.last_request.body["max_tokens"] == 70  # type: ignore[union-attr]
    adapter(fake, "openai_compatible").send("chat", {**CHAT, "max_tokens": 80}, "r4")
    assert fake.last_request.body["max_tokens"] == 80  # type: ignore[union-attr]


def test_openai_send_and_stream_responses(fake: FakeUpstream):
    up = adapter(fake, "openai")
    answer = up.send("responses", RESPONSES, "r")
    assert answer["object"] == "response" and answer["output"][0]["content"][0]["text"] \
        == "echo: hello there"
    assert answer["usage"]["input_tokens"] == 2
    assert fake.last_request.path == "/v1/responses"  # type: ignore[union-attr]
    events = list(up.open_stream("responses", {**RESPONSES, "stream": True}, "r"))
    assert events[0].startswith(b"event: response.created\n")
    done = data_of(events)[-1]
    assert done["type"] == "response.completed" and done["response"]["usage"]["output_tokens"]


@pytest.mark.parametrize("type_name", ["openrouter", "openai_compatible", "echo"])
def test_dialects_not_spoken_are_refused(fake: FakeUpstream, type_name: str):
    up = adapter(fake, type_name)
    for dialect in ("responses", "messages"):
        with pytest.raises(UpstreamError, match=f"does not speak the '{dialect}' dialect"):
            up.send(dialect, RESPONSES, "r")
        with pytest.raises(UpstreamError, match="does not speak"):
            up.open_stream(dialect, RESPONSES, "r")
    assert not [r for r in fake.requests if r.method == "POST"]  # nothing was sent


def test_count_tokens_is_none_where_the_provider_has_no_count(fake: FakeUpstream):
    assert adapter(fake, "openai").count_tokens({"messages": []}, "r") is None
    assert adapter(fake, "echo").count_tokens({"messages": []}, "r") is None


def test_echo_speaks_chat_through_send(fake: FakeUpstream):
    up = adapter(fake, "echo")
    assert up.send("chat", CHAT, "r")["choices"][0]["message"]["content"] == "echo: hello there"
    stream = up.open_stream("chat", {**CHAT, "stream": True}, "r")
    assert isinstance(stream, EchoStream) and data_of(list(stream))[-1] == "[DONE]"


class OldPlugin(Adapter):
    """A third party's adapter from before dialects: only the four abstract methods."""

    def chat(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return {"plugin": "chat", "model": body["model"]}

    def chat_stream(self, body: dict[str, Any], request_id: str) -> Stream:
        return EchoStream([b"data: {}\n\n", b"data: [DONE]\n\n"])

    def embeddings(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return {}

    def models(self) -> list[dict[str, Any]]:
        return []


def test_a_plugin_without_dialects_speaks_chat_through_its_chat():
    plugin = OldPlugin(ProviderConfig(id=9, name="old", type="old", base_url=""))
    assert plugin.dialects == ("chat",)
    assert plugin.send("chat", {"model": "m"}, "r", headers={"anthropic-beta": "x"}) \
        == {"plugin": "chat", "model": "m"}
    assert list(plugin.open_stream("chat", {"model": "m"}, "r"))[-1] == b"data: [DONE]\n\n"
    assert plugin.count_tokens({}, "r") is None
    with pytest.raises(UpstreamError, match="does not speak the 'messages' dialect"):
        plugin.send("messages", {"model": "m"}, "r")
