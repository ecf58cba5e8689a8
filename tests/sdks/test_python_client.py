"""The Python SDK against a real server: every method, streaming, closing a stream early."""

from __future__ import annotations

import time

import pytest
from modelproxy import ChatCompletionStream, ModelProxyClient, UpstreamError

from tests.sdks.conftest import SdkServer

HELLO = [{"role": "user", "content": "Hello"}]


def client_for(server: SdkServer, token: str = "all", **options: object) -> ModelProxyClient:
    return ModelProxyClient(server.url, server.tokens[token], **options)  # type: ignore[arg-type]


def text_of(chunks: list[dict]) -> str:
    return "".join(c["delta"].get("content") or "" for chunk in chunks for c in chunk["choices"])


def test_chat_completion_exactly_as_the_seed_writes_it(sdk_server: SdkServer) -> None:
    client = client_for(sdk_server)
    reply = client.chat_completion(endpoint='/api/chat',
                                   messages=[{"role": "user", "content": "Hello"}])
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["content"] == "echo: Hello"
    assert reply["usage"]["total_tokens"] > 0
    sent = sdk_server.fake.last_request
    assert sent is not None and sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-4o-mini" and "endpoint" not in sent.body


def test_chat_parameters_pass_through_and_the_request_id_is_the_sdks(
        sdk_server: SdkServer) -> None:
    client = client_for(sdk_server)
    client.chat_completion(endpoint="/api/chat", messages=HELLO, temperature=0.25, max_tokens=7)
    sent = sdk_server.fake.last_request
    assert sent is not None
    assert (sent.body["temperature"], sent.body["max_tokens"]) == (0.25, 7)
    request_id = sent.headers["X-Request-ID"]
    assert request_id.startswith("req_")
    assert sdk_server.log_rows(request_id)[0]["status"] == 200


def test_chat_on_another_endpoint_path_and_by_model_name_through_v1(
        sdk_server: SdkServer) -> None:
    client = client_for(sdk_server)
    by_path = client.chat_completion(endpoint="/api/echo/chat", messages=HELLO)
    by_name = client.chat_completion(model="echo-chat", messages=HELLO)
    default = client.chat_completion(messages=HELLO)  # /api/chat
    assert by_path["model"] == by_name["model"] == "echo-model"
    assert default["choices"][0]["message"]["content"] == "echo: Hello"
    assert sdk_server.fake.last_request.body["model"] == "gpt-4o-mini"
    with pytest.raises(ValueError, match="not both"):
        client.chat_completion(endpoint="/api/chat", model="chat", messages=HELLO)
    with pytest.raises(ValueError, match="chat_completion_stream"):
        client.chat_completion(messages=HELLO, stream=True)


def test_streaming_gives_parsed_chunks_until_done(sdk_server: SdkServer) -> None:
    client = client_for(sdk_server)
    stream = client.chat_completion_stream(endpoint="/api/chat",
                                           messages=[{"role": "user", "content": "stream me"}])
    assert isinstance(stream, ChatCompletionStream) and stream.request_id.startswith("req_")
    chunks = list(stream)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len(chunks) >= 4  # role, content pieces, finish
    assert text_of(chunks) == "echo: stream me"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert sdk_server.fake.streams_completed == 1
    assert sdk_server.fake.last_request.body["stream"] is True
    assert sdk_server.log_rows(stream.request_id)[0]["stream"] is True


def test_streaming_with_usage_and_through_v1(sdk_server: SdkServer) -> None:
    client = client_for(sdk_server)
    chunks = list(client.chat_completion_stream(
        endpoint="/api/chat", messages=HELLO, stream_options={"include_usage": True}))
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    echoed = list(client.chat_completion_stream(model="echo-chat", messages=HELLO))
    assert text_of(echoed) and echoed[0]["model"] == "echo-model"


def test_breaking_out_of_a_stream_closes_it_upstream_at_once(sdk_server: SdkServer) -> None:
    sdk_server.fake.stream_delay(0.5)
    client = client_for(sdk_server)
    started = time.monotonic()
    for chunk in client.chat_completion_stream(endpoint="/api/chat", messages=HELLO):
        assert chunk["choices"][0]["delta"]["role"] == "assistant"
        break
    assert sdk_server.fake.wait_until(lambda f: f.streams_aborted == 1, timeout=2), \
        "the upstream stream went on after the caller stopped iterating"
    assert sdk_server.fake.streams_completed == 0
    assert time.monotonic() - started < 2


def test_closing_a_stream_in_a_with_block_closes_the_connection(sdk_server: SdkServer) -> None:
    sdk_server.fake.stream_delay(0.5)
    client = client_for(sdk_server)
    with client.chat_completion_stream(endpoint="/api/chat", messages=HELLO) as stream:
        first = next(stream)
        assert first["choices"][0]["delta"]["role"] == "assistant"
    assert sdk_server.fake.wait_until(lambda f: f.streams_aborted == 1, timeout=2)
    assert list(stream) == []  # a closed stream yields nothing more
    row = sdk_server.log_rows(stream.request_id)[0]
    assert row["status"] == 499


def test_mid_stream_failure_raises_upstream_error_and_is_not_retried(
        sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_mid_stream(after=2)
    client = client_for(sdk_server, max_retries=2, retry_backoff=0.01)
    stream = client.chat_completion_stream(endpoint="/api/chat",
                                           messages=[{"role": "user", "content": "a b c d"}])
    received = []
    with pytest.raises(UpstreamError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert len(received) >= 2  # what came before the break
    error = caught.value
    assert error.status_code == 502 and error.code == "upstream_error" and error.message
    assert error.request_id == stream.request_id
    time.sleep(0.3)
    assert len(sdk_server.calls) == 1, "a stream that had started was retried"


def test_embeddings_one_text_and_a_list(sdk_server: SdkServer) -> None:
    client = client_for(sdk_server)
    one = client.embeddings(endpoint="/api/embeddings", input="hello")
    assert one["object"] == "list" and len(one["data"]) == 1
    assert len(one["data"][0]["embedding"]) == sdk_server.fake.embedding_dim
    many = client.embeddings(endpoint="/api/embeddings", input=["a", "b", "c"], dimensions=4)
    assert [d["index"] for d in many["data"]] == [0, 1, 2]
    assert all(len(d["embedding"]) == 4 for d in many["data"])
    assert sdk_server.fake.last_request.body["model"] == "text-embedding-3-small"
    by_name = client.embeddings(model="echo-embed", input="x")
    assert by_name["data"][0]["embedding"]
    default = client.embeddings(input="x")  # /api/embeddings
    assert default["model"] == "text-embedding-3-small"


def test_models_all_and_by_provider(sdk_server: SdkServer) -> None:
    client = client_for(sdk_server)
    listed = client.models()
    assert listed["object"] == "list"
    names = {m["id"] for m in listed["data"]}
    assert {"chat", "embed", "echo-chat", "echo-embed", "slow"} <= names
    chat = next(m for m in listed["data"] if m["id"] == "chat")
    assert (chat["endpoint"], chat["kind"], chat["owned_by"]) == ("/api/chat", "chat", "fake")
    echo = client.models(provider="echo")
    assert {m["id"] for m in echo["data"]} == {"echo-chat", "echo-embed"}
    assert client.models(provider="nobody")["data"] == []


def test_health(sdk_server: SdkServer) -> None:
    health = client_for(sdk_server).health()
    assert health["status"] == "ok" and health["database"] == "ok" and health["version"]


def test_a_client_is_a_context_manager_and_hides_its_token(sdk_server: SdkServer) -> None:
    with client_for(sdk_server) as client:
        assert client.health()["status"] == "ok"
        assert sdk_server.tokens["all"] not in repr(client)
    with pytest.raises(ValueError, match="http"):
        ModelProxyClient("127.0.0.1:8787", "mpx_x")
