"""The Python SDK's typed errors, each from a real server response, and its retry rules,
counted where the requests land: at the fake upstream, or in the server's request log."""

from __future__ import annotations

import time

import modelproxy
import pytest
from modelproxy import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ModelProxyClient,
    ModelProxyError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    UpstreamError,
)

from tests.sdks.conftest import BODY_LIMIT, SdkServer, dead_url

HELLO = [{"role": "user", "content": "Hello"}]
SETTLE = 0.4  # seconds: past the server's log flush, so no row is missed


def client_for(server: SdkServer, token: str = "all", **options: object) -> ModelProxyClient:
    return ModelProxyClient(server.url, server.tokens[token], **options)  # type: ignore[arg-type]


def assert_server_error(error: ModelProxyError, server: SdkServer, status: int,
                        code: str) -> None:
    """The error names the server's status, code, message and the logged request id."""
    assert error.status_code == status, error
    assert error.code == code, error
    assert error.message and isinstance(error.message, str)
    assert error.message == error.body["error"]["message"]
    assert error.request_id and error.request_id.startswith("req_")
    rows = server.log_rows(error.request_id, settle=SETTLE)
    assert [r["status"] for r in rows] == [status], "one attempt, logged with that status"


def test_401_unknown_token(sdk_server: SdkServer) -> None:
    client = ModelProxyClient(sdk_server.url, "mpx_" + "x" * 43, max_retries=2)
    with pytest.raises(AuthenticationError) as caught:
        client.chat_completion(endpoint="/api/chat", messages=HELLO)
    assert_server_error(caught.value, sdk_server, 401, "invalid_token")
    assert caught.value.type == "authentication_error"
    with pytest.raises(AuthenticationError) as missing:
        ModelProxyClient(sdk_server.url, "", max_retries=2).models()
    assert missing.value.code == "missing_token"


@pytest.mark.parametrize("call", ["embeddings", "models"])
def test_403_outside_the_tokens_scopes(sdk_server: SdkServer, call: str) -> None:
    client = client_for(sdk_server, "chat-only")
    with pytest.raises(PermissionDeniedError) as caught:
        client.embeddings(input="x") if call == "embeddings" else client.models()
    assert_server_error(caught.value, sdk_server, 403, "scope_not_allowed")
    assert caught.value.type == "permission_error"
    assert client.chat_completion(messages=HELLO)["choices"]  # chat is in scope


def test_403_revoked_token(sdk_server: SdkServer) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        client_for(sdk_server, "revoked").chat_completion(endpoint="/api/chat", messages=HELLO)
    assert_server_error(caught.value, sdk_server, 403, "token_revoked")
    assert "revoked" in caught.value.message


def test_404_unknown_endpoint(sdk_server: SdkServer) -> None:
    with pytest.raises(NotFoundError) as caught:
        client_for(sdk_server).chat_completion(endpoint="/api/nowhere", messages=HELLO)
    assert_server_error(caught.value, sdk_server, 404, "endpoint_not_found")
    assert "/api/nowhere" in caught.value.message
    with pytest.raises(NotFoundError) as by_model:
        client_for(sdk_server).chat_completion(model="no-such-model", messages=HELLO)
    assert by_model.value.code == "model_not_found"


def test_400_bad_input_is_not_retried(sdk_server: SdkServer) -> None:
    client = client_for(sdk_server, max_retries=2)
    with pytest.raises(BadRequestError) as caught:
        client.chat_completion(endpoint="/api/chat", messages=[])
    assert_server_error(caught.value, sdk_server, 400, "invalid_request")
    assert "messages" in caught.value.message
    with pytest.raises(BadRequestError):  # a chat endpoint is not an embeddings endpoint
        client.embeddings(endpoint="/api/chat", input="x")


def test_400_from_the_provider_is_not_retried(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(400, {"error": {"message": "max_tokens is too large",
                                              "type": "invalid_request_error", "code": None}})
    with pytest.raises(BadRequestError) as caught:
        client_for(sdk_server, max_retries=2).chat_completion(messages=HELLO, max_tokens=10**9)
    assert "max_tokens is too large" in caught.value.message
    assert len(sdk_server.calls) == 1


def test_413_body_too_large(sdk_server: SdkServer) -> None:
    with pytest.raises(BadRequestError) as caught:
        client_for(sdk_server, max_retries=2).embeddings(input="x" * (BODY_LIMIT + 1))
    assert_server_error(caught.value, sdk_server, 413, "request_too_large")
    assert str(BODY_LIMIT) in caught.value.message
    assert sdk_server.calls == []


def test_429_rate_limit_has_retry_after_and_a_long_wait_is_not_sat_out(
        sdk_server: SdkServer) -> None:
    client = client_for(sdk_server, "py-rpm", max_retries=2, max_retry_wait=20)
    client.chat_completion(endpoint="/api/echo/chat", messages=HELLO)  # the one a minute
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        client.chat_completion(endpoint="/api/echo/chat", messages=HELLO)
    assert time.monotonic() - started < 2, "waited out a Retry-After above max_retry_wait"
    error = caught.value
    assert error.retry_after is not None and 20 < error.retry_after <= 60
    assert_server_error(error, sdk_server, 429, "rate_limit_exceeded")
    assert not isinstance(error, QuotaExceededError)


def test_a_providers_long_retry_after_on_a_502_is_raised_at_once(
        sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(429, headers={"Retry-After": "30"})
    client = client_for(sdk_server, max_retries=2, max_retry_wait=20)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        client.chat_completion(endpoint="/api/chat", messages=HELLO)
    assert time.monotonic() - started < 2, "waited out a Retry-After above max_retry_wait"
    assert caught.value.retry_after == 30.0
    assert_server_error(caught.value, sdk_server, 502, "upstream_error")
    assert len(sdk_server.calls) == 1


def test_a_providers_short_retry_after_on_a_502_is_waited_out(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(429, headers={"Retry-After": "1"})
    client = client_for(sdk_server, max_retries=1, retry_backoff=0.01)
    started = time.monotonic()
    answer = client.chat_completion(endpoint="/api/chat", messages=HELLO)
    assert answer["choices"][0]["message"]["content"] == "echo: Hello"
    assert time.monotonic() - started >= 1.0, "retried after the backoff, not Retry-After"
    assert len(sdk_server.calls) == 2


def test_429_quota_is_quota_exceeded_and_never_retried(sdk_server: SdkServer) -> None:
    client = client_for(sdk_server, "py-quota", max_retries=3, retry_backoff=0.01)
    client.chat_completion(endpoint="/api/chat", messages=HELLO)  # the month's one request
    with pytest.raises(QuotaExceededError) as caught:
        client.chat_completion(endpoint="/api/chat", messages=HELLO)
    assert not isinstance(caught.value, RateLimitError)
    assert caught.value.type == "rate_limit_error"
    assert_server_error(caught.value, sdk_server, 429, "insufficient_quota")
    assert len(sdk_server.calls) == 1  # only the allowed one went upstream


def test_502_when_the_provider_fails(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(500)
    with pytest.raises(UpstreamError) as caught:
        client_for(sdk_server, max_retries=0).chat_completion(messages=HELLO)
    assert_server_error(caught.value, sdk_server, 502, "upstream_error")
    assert len(sdk_server.calls) == 1


def test_504_when_the_provider_times_out(sdk_server: SdkServer) -> None:
    sdk_server.set_delay(1)  # the slow provider gives up after 0.5 s
    with pytest.raises(UpstreamError) as caught:
        client_for(sdk_server, max_retries=0).chat_completion(endpoint="/api/slow",
                                                              messages=HELLO)
    assert_server_error(caught.value, sdk_server, 504, "upstream_timeout")


def test_502_twice_then_success_on_the_third_attempt(sdk_server: SdkServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    real_sleep = time.sleep

    class RecordingTime:  # the SDK module's view of `time`, its sleeps recorded
        def __getattr__(self, name: str) -> object:
            return getattr(time, name)

        def sleep(self, seconds: float) -> None:
            waits.append(seconds)
            real_sleep(seconds)

    monkeypatch.setattr(modelproxy._client, "time", RecordingTime())
    sdk_server.fake.fail_next(500, count=2)
    client = client_for(sdk_server, max_retries=2, retry_backoff=0.1)
    reply = client.chat_completion(endpoint="/api/chat", messages=HELLO)
    assert reply["choices"][0]["message"]["content"] == "echo: Hello"
    requests_seen = sdk_server.calls
    assert len(requests_seen) == 3
    ids = {r.headers["X-Request-ID"] for r in requests_seen}
    assert len(ids) == 1, "every attempt of one call has the same request id"
    assert [r["status"] for r in sdk_server.log_rows(ids.pop(), 3, SETTLE)] == [502, 502, 200]
    assert len(waits) == 2
    assert 0.05 <= waits[0] <= 0.1 and 0.1 <= waits[1] <= 0.2  # doubling, with jitter


def test_retries_give_up_after_max_retries(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(503, count=5)
    with pytest.raises(UpstreamError) as caught:
        client_for(sdk_server, max_retries=1, retry_backoff=0.01).chat_completion(messages=HELLO)
    assert caught.value.status_code == 502
    assert len(sdk_server.calls) == 2


def test_504_is_retried_too(sdk_server: SdkServer) -> None:
    sdk_server.set_delay(1)
    with pytest.raises(UpstreamError) as caught:
        client_for(sdk_server, max_retries=1, retry_backoff=0.01).chat_completion(
            endpoint="/api/slow", messages=HELLO)
    assert caught.value.status_code == 504
    assert len(sdk_server.calls) == 2


def test_a_stream_that_fails_before_it_starts_is_retried(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(500, count=1)
    client = client_for(sdk_server, max_retries=2, retry_backoff=0.01)
    chunks = list(client.chat_completion_stream(endpoint="/api/chat", messages=HELLO))
    assert chunks and len(sdk_server.calls) == 2


def test_connection_error_when_nothing_listens_is_retried_then_raised() -> None:
    client = ModelProxyClient(dead_url(), "mpx_x", max_retries=2, retry_backoff=0.01)
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as caught:
        client.health()
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.status_code is None and caught.value.request_id.startswith("req_")
    assert time.monotonic() - started < 2
    assert not isinstance(caught.value, ConnectionError)  # the builtin is not shadowed


def test_timeout_is_api_timeout_error(sdk_server: SdkServer) -> None:
    sdk_server.set_delay(1)
    client = client_for(sdk_server, timeout=0.3, max_retries=1, retry_backoff=0.01)
    with pytest.raises(APITimeoutError) as caught:
        client.chat_completion(endpoint="/api/chat", messages=HELLO)
    assert isinstance(caught.value, APIConnectionError)
    assert "0.3" in caught.value.message
    time.sleep(0.5)  # the retry has left by the time the error is raised
    assert len(sdk_server.calls) == 2, "a timeout is retried once with max_retries=1"
