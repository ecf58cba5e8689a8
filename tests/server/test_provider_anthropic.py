"""The anthropic provider type (server/providers/anthropic.py) against the fake upstream's
Messages API: whole answers, streams, token counts, the models list, the headers it sends
(its key as x-api-key, anthropic-version, a client's anthropic-beta for that request only),
and the provider's errors (529 overloaded, a 401 quoting the key)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from server.providers import ProviderConfig, UpstreamError, adapter_for
from server.providers.anthropic import AnthropicAdapter
from tests.fakes.anthropic_replies import anthropic_error
from tests.fakes.script import Turn
from tests.fakes.upstream import FakeUpstream

KEY = "sk-ant-api03-secret-key-for-tests-0123456789"
BODY = {"model": "claude-x", "max_tokens": 64, "system": "be brief",
        "messages": [{"role": "user", "content": "hello there"}]}
BETA = {"anthropic-beta": "interleaved-thinking-2025-05-14"}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(models=["claude-sonnet-4-5", "claude-haiku-4-5"]) as upstream:
        upstream.require_api_key(KEY)
        yield upstream


@pytest.fixture
def adapter(fake: FakeUpstream) -> Iterator[AnthropicAdapter]:
    up = adapter_for(ProviderConfig(id=1, name="claude", type="anthropic",
                                    base_url=fake.base_url, api_key=KEY, timeout_s=5))
    assert isinstance(up, AnthropicAdapter)
    yield up
    up.close()


def test_send_messages_with_its_headers(fake: FakeUpstream, adapter: AnthropicAdapter):
    assert adapter.dialects == ("messages",)
    answer = adapter.send("messages", BODY, "req-1", headers=BETA)
    assert answer["type"] == "message" and answer["content"][0]["text"] == "echo: hello there"
    assert answer["usage"]["input_tokens"] == 4
    assert json.loads(answer.raw) == dict(answer)  # the provider's bytes, for relaying
    sent = fake.last_request
    assert sent is not None and sent.path == "/v1/messages" and sent.body == BODY
    assert sent.headers["x-api-key"] == KEY and "authorization" not in sent.headers
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == BETA["anthropic-beta"]
    assert sent.headers["x-request-id"] == "req-1"
    adapter.send("messages", BODY, "req-2")  # the beta header went with that request only
    assert "anthropic-beta" not in fake.last_request.headers  # type: ignore[union-attr]


def test_per_request_headers_cannot_replace_the_key(fake: FakeUpstream,
                                                    adapter: AnthropicAdapter):
    adapter.send("messages", BODY, "r", headers={"X-Api-Key": "sk-ant-other-key",
                                                 "Authorization": "Bearer mpx_client"})
    sent = fake.last_request
    assert sent is not None and sent.headers["x-api-key"] == KEY
    assert "authorization" not in sent.headers


def test_open_stream_gives_the_event_stream(fake: FakeUpstream, adapter: AnthropicAdapter):
    fake.script = lambda dialect, body: Turn("on it", [("toolu_1", "Bash", {"command": "ls"})])
    stream = adapter.open_stream("messages", {**BODY, "stream": True}, "r", headers=BETA)
    events = list(stream)
    stream.close()
    names = [e.split(b"\n")[0] for e in events]
    assert names[0] == b"event: message_start" and names[-1] == b"event: message_stop"
    assert all(e.endswith(b"\n\n") for e in events)
    deltas = [json.loads(e.split(b"\n")[1][6:]) for e in events
              if e.startswith(b"event: content_block_delta")]
    assert "".join(d["delta"].get("partial_json", "") for d in deltas) == '{"command": "ls"}'
    assert fake.last_request.headers["anthropic-beta"] == BETA["anthropic-beta"]  # type: ignore


def test_stream_answered_with_json_is_refused(fake: FakeUpstream, adapter: AnthropicAdapter):
    with pytest.raises(UpstreamError, match="not an event stream"):
        adapter.open_stream("messages", BODY, "r")  # no "stream": the fake answers JSON


def test_count_tokens(fake: FakeUpstream, adapter: AnthropicAdapter):
    assert adapter.count_tokens(BODY, "r", headers=BETA) == 4
    sent = fake.last_request
    assert sent is not None and sent.path == "/v1/messages/count_tokens"
    assert sent.headers["anthropic-beta"] == BETA["anthropic-beta"]


def test_models_as_openai_model_objects(fake: FakeUpstream, adapter: AnthropicAdapter):
    models = adapter.models()
    assert [m["id"] for m in models] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert models[0]["object"] == "model" and models[0]["owned_by"] == "anthropic"
    assert models[0]["created"] == 1739923200  # 2025-02-19T00:00:00Z
    assert models[0]["display_name"]
    sent = fake.last_request
    assert sent is not None and sent.path.startswith("/v1/models?limit=")
    assert sent.headers["anthropic-version"] == "2023-06-01"


def test_models_follow_pages(fake: FakeUpstream, adapter: AnthropicAdapter):
    first = {"data": [{"type": "model", "id": "a", "display_name": "A",
                       "created_at": "2025-01-01T00:00:00Z"}], "has_more": True,
             "first_id": "a", "last_id": "a"}
    fake.fail_next(200, first)
    assert [m["id"] for m in adapter.models()] == ["a", "claude-sonnet-4-5", "claude-haiku-4-5"]
    assert fake.last_request.path.endswith("&after_id=a")  # type: ignore[union-attr]


def test_overloaded_529_keeps_status_and_retry_after(fake: FakeUpstream,
                                                     adapter: AnthropicAdapter):
    fake.fail_next(529, headers={"Retry-After": "7"})
    with pytest.raises(UpstreamError) as caught:
        adapter.send("messages", BODY, "r")
    assert caught.value.status == 529 and caught.value.retry_after == "7"
    assert "Injected failure (HTTP 529)" in caught.value.message  # Anthropic's error.message
    fake.fail_next(529, anthropic_error(529, "Overloaded"))
    with pytest.raises(UpstreamError) as again:
        adapter.open_stream("messages", {**BODY, "stream": True}, "r")
    assert again.value.status == 529 and again.value.message.endswith(": Overloaded")


def test_401_message_never_holds_the_key(fake: FakeUpstream, adapter: AnthropicAdapter):
    fake.fail_next(401, anthropic_error(401, f"invalid x-api-key: {KEY}"))
    with pytest.raises(UpstreamError) as caught:
        adapter.send("messages", BODY, "r")
    assert caught.value.status == 401
    assert KEY not in caught.value.message and KEY[:12] not in caught.value.message
    assert "invalid x-api-key" in caught.value.message


def test_wrong_key_is_refused_by_the_fake(fake: FakeUpstream):
    wrong = adapter_for(ProviderConfig(id=2, name="bad", type="anthropic",
                                       base_url=fake.base_url, api_key="sk-ant-wrong-key-000"))
    with pytest.raises(UpstreamError) as caught:
        wrong.send("messages", BODY, "r")
    assert caught.value.status == 401 and "Incorrect API key" in caught.value.message


def test_chat_shaped_calls_and_other_dialects_are_refused(adapter: AnthropicAdapter):
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(UpstreamError, match="speaks the Messages API"):
        adapter.chat(chat, "r")
    with pytest.raises(UpstreamError, match="speaks the Messages API"):
        adapter.chat_stream(chat, "r")
    with pytest.raises(UpstreamError, match="no embeddings"):
        adapter.embeddings({"model": "m", "input": "x"}, "r")
    for dialect in ("chat", "responses"):
        with pytest.raises(UpstreamError, match=f"does not speak the '{dialect}' dialect"):
            adapter.send(dialect, chat, "r")
