"""The fake OpenAI upstream, exercised over real HTTP with `requests` and the `openai` client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import requests

from tests.fakes.upstream import FakeUpstream, fake_embedding

HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": "hello there"}]}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # never route loopback through a proxy from the environment
        yield session


@pytest.fixture
def client(fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0, timeout=5)


def sse_events(resp: requests.Response) -> list[Any]:
    """The `data:` payloads of an SSE response, JSON-decoded except the literal [DONE]."""
    out: list[Any] = []
    for line in resp.iter_lines():
        if line.startswith(b"data: "):
            data = line[len(b"data: "):]
            out.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return out


def test_chat_non_stream_echoes_last_user_message(fake: FakeUpstream, http: requests.Session):
    resp = http.post(fake.base_url + "/chat/completions", json=HELLO)
    assert resp.status_code == 200
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    body = resp.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello there",
                                             "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    # keep-alive: a second request reuses the same TCP connection
    assert http.post(fake.base_url + "/chat/completions", json=HELLO).status_code == 200
    assert fake.connections_opened == 1


def test_chat_with_openai_client(fake: FakeUpstream, client: openai.OpenAI):
    reply = client.chat.completions.create(
        model="m1", messages=[{"role": "user", "content": [{"type": "text", "text": "parts"}]}])
    assert reply.choices[0].message.content == "echo: parts"
    assert reply.model == "m1"
    assert reply.usage is not None and reply.usage.total_tokens == 3


def test_stream_without_include_usage(fake: FakeUpstream, http: requests.Session):
    fake.stream_chunks = 5
    with http.post(fake.base_url + "/chat/completions", json={**HELLO, "stream": True},
                   stream=True) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["Transfer-Encoding"] == "chunked"
        events = sse_events(resp)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert len(contents) == 5
    assert "".join(contents) == "echo: hello there"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert fake.wait_until(lambda f: f.streams_completed == 1) and fake.open_streams == 0


def test_stream_with_include_usage_via_openai(fake: FakeUpstream, client: openai.OpenAI):
    stream = client.chat.completions.create(
        model="m", messages=HELLO["messages"], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "echo: hello there"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 7
    assert all(c.usage is None for c in chunks[:-1])
    assert fake.last_request is not None and fake.last_request.body["stream_options"] == {
        "include_usage": True}


def test_no_usage_in_stream(fake: FakeUpstream, http: requests.Session):
    fake.no_usage_in_stream()
    body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}
    with http.post(fake.base_url + "/chat/completions", json=body, stream=True) as resp:
        events = sse_events(resp)
    assert events[-1] == "[DONE]"
    assert all(e["choices"] and "usage" not in e for e in events[:-1])


def test_embeddings_shape_and_determinism(fake: FakeUpstream, http: requests.Session):
    fake.embedding_dim = 16
    url = fake.base_url + "/embeddings"
    body = http.post(url, json={"model": "emb", "input": ["a b", "c"]}).json()
    assert body["object"] == "list" and body["model"] == "emb"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 16 for d in body["data"])
    assert body["data"][0]["embedding"] == fake_embedding("a b", 16)
    assert body["data"][0]["embedding"] != body["data"][1]["embedding"]
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    single = http.post(url, json={"model": "emb", "input": "a b"}).json()
    assert single["data"][0]["embedding"] == body["data"][0]["embedding"]
    assert http.post(url, json={"model": "emb"}).status_code == 400


def test_embeddings_via_openai_base64(fake: FakeUpstream, client: openai.OpenAI):
    result = client.embeddings.create(model="emb", input="hello")  # client asks for base64
    assert fake.last_request is not None
    assert fake.last_request.body["encoding_format"] == "base64"
    assert result.data[0].embedding == pytest.approx(fake_embedding("hello", 8), abs=1e-6)


def test_models_list_is_configurable(fake: FakeUpstream, client: openai.OpenAI):
    fake.models = ["alpha", "beta"]
    assert [m.id for m in client.models.list()] == ["alpha", "beta"]
    assert client.models.retrieve("beta").id == "beta"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gamma")


def test_fail_next_status_body_and_count(fake: FakeUpstream, http: requests.Session,
                                         client: openai.OpenAI):
    url = fake.base_url + "/chat/completions"
    fake.fail_next(503, count=2)
    for _ in range(2):
        resp = http.post(url, json=HELLO)
        assert resp.status_code == 503
        assert resp.json()["error"]["type"] == "server_error"
        assert set(resp.json()["error"]) >= {"message", "type", "code"}
    assert http.post(url, json=HELLO).status_code == 200
    fake.fail_next(429, {"error": {"message": "slow down", "type": "requests", "code": "x"}},
                   headers={"Retry-After": "1"})
    resp = http.post(url, json=HELLO)
    assert (resp.status_code, resp.headers["Retry-After"]) == (429, "1")
    assert resp.json()["error"]["message"] == "slow down"
    fake.fail_next(500, "<html>oops</html>")
    assert http.post(url, json=HELLO).text == "<html>oops</html>"
    fake.fail_next(500)
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="m", messages=HELLO["messages"])
    assert err.value.status_code == 500


def test_fail_always_until_reset(fake: FakeUpstream, http: requests.Session):
    fake.fail_always(502)
    assert [http.get(fake.base_url + "/models").status_code for _ in range(3)] == [502] * 3
    fake.reset()
    assert http.get(fake.base_url + "/models").status_code == 200
    fake.drop_next(count=None)
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            http.get(fake.base_url + "/models")
    fake.reset()
    assert http.get(fake.base_url + "/models").status_code == 200


def test_drop_next_gives_connection_error(fake: FakeUpstream, http: requests.Session):
    fake.drop_next()
    with pytest.raises(requests.ConnectionError):
        http.post(fake.base_url + "/chat/completions", json=HELLO)
    assert len(fake.requests) == 1  # it was received and recorded, just never answered
    assert http.post(fake.base_url + "/chat/completions", json=HELLO).status_code == 200


def test_fail_mid_stream_ends_without_done(fake: FakeUpstream, http: requests.Session,
                                           client: openai.OpenAI):
    fake.stream_chunks = 6
    fake.fail_mid_stream(after=2, count=2)
    seen: list[bytes] = []
    url, body = fake.base_url + "/chat/completions", {**HELLO, "stream": True}
    with (pytest.raises(requests.exceptions.ChunkedEncodingError),
          http.post(url, json=body, stream=True) as resp):
        seen.extend(line for line in resp.iter_lines() if line)
    assert len(seen) == 3  # the role chunk and two content chunks
    assert b"data: [DONE]" not in seen
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="m", messages=HELLO["messages"],
                                                    stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert len(received) == 3
    assert fake.streams_aborted == 0  # the server cut it, not the client


def test_delays(fake: FakeUpstream, http: requests.Session):
    fake.set_delay(0.05)
    start = time.monotonic()
    assert http.get(fake.base_url + "/models").status_code == 200
    assert time.monotonic() - start >= 0.05
    fake.set_delay(0)
    fake.stream_chunks = 2
    fake.stream_delay(0.02)
    start = time.monotonic()
    with http.post(fake.base_url + "/chat/completions", json={**HELLO, "stream": True},
                   stream=True) as resp:
        events = sse_events(resp)
    assert len(events) == 5  # role, 2 content, stop, [DONE]: four gaps between them
    assert time.monotonic() - start >= 4 * 0.02


def test_client_abort_is_noticed_within_one_chunk_interval(fake: FakeUpstream,
                                                           http: requests.Session):
    fake.stream_chunks = 20
    fake.stream_delay(1.0)
    resp = http.post(fake.base_url + "/chat/completions", json={**HELLO, "stream": True},
                     stream=True)
    lines = resp.iter_lines()  # keep a reference: a collected generator closes the socket
    assert next(lines).startswith(b"data: ")
    assert fake.open_streams == 1
    closed_at = time.monotonic()
    resp.close()  # mid-stream: urllib3 drops the connection
    assert fake.wait_until(lambda f: f.streams_aborted == 1, timeout=0.8)
    assert time.monotonic() - closed_at < 0.8  # well inside the 1 s chunk interval
    assert fake.wait_until(lambda f: f.open_streams == 0, timeout=0.5)
    assert fake.streams_completed == 0


def test_require_api_key(fake: FakeUpstream, http: requests.Session, client: openai.OpenAI):
    url = fake.base_url + "/chat/completions"
    fake.require_api_key("sk-right")
    resp = http.post(url, json=HELLO)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"
    assert http.post(url, json=HELLO, headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = http.post(url, json=HELLO, headers={"Authorization": "Bearer sk-right"})
    assert ok.status_code == 200
    with pytest.raises(openai.AuthenticationError):
        client.models.list()  # its key is sk-test
    fake.require_api_key(None)
    assert client.models.list().data


def test_records_headers_and_body(fake: FakeUpstream, http: requests.Session):
    http.post(fake.base_url + "/chat/completions?trace=1", json=HELLO,
              headers={"X-Request-ID": "rid-42", "Authorization": "Bearer sk-x"})
    http.post(fake.base_url + "/embeddings", data=b"not json",
              headers={"Content-Type": "text/plain"})
    first, second = fake.requests
    assert (first.method, first.path) == ("POST", "/v1/chat/completions?trace=1")
    assert first.headers["x-request-id"] == "rid-42"
    assert first.headers.get("X-REQUEST-ID") == "rid-42" and "Authorization" in first.headers
    assert first.body == HELLO
    assert json.loads(first.raw) == HELLO
    assert second.body is None and second.raw == b"not json"
    assert fake.last_request == second
    fake.clear()
    assert fake.requests == [] and fake.last_request is None


def test_chunked_request_body_and_unknown_path(fake: FakeUpstream, http: requests.Session):
    payload = json.dumps(HELLO).encode()
    resp = http.post(fake.base_url + "/chat/completions", data=iter([payload[:10], payload[10:]]),
                     headers={"Content-Type": "application/json"})
    assert resp.json()["choices"][0]["message"]["content"] == "echo: hello there"
    assert fake.last_request is not None and fake.last_request.body == HELLO
    missing = http.get(fake.base_url + "/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Unknown request URL: GET /v1/nope"


def test_stop_cuts_open_streams() -> None:
    fake = FakeUpstream(stream_chunks=50).start()
    fake.stream_delay(0.5)
    with requests.post(fake.base_url + "/chat/completions", json={**HELLO, "stream": True},
                       stream=True, timeout=5) as resp:
        lines = resp.iter_lines()
        assert next(lines).startswith(b"data: ")
        start = time.monotonic()
        fake.stop()
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            list(lines)
    assert time.monotonic() - start < 1.0
    with pytest.raises(RuntimeError):
        _ = fake.url
