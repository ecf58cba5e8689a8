"""Any server speaking the OpenAI API (vLLM, Ollama, LM Studio, llama.cpp, ...)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError, NameResolutionError, NewConnectionError

from server.providers.base import (
    Adapter,
    Answer,
    ProviderConfig,
    Stream,
    UpstreamError,
    UpstreamTimeout,
)
from server.providers.transport import Response, Transport

CONNECT_TIMEOUT_S = 10.0
JSON_BODY = {"Content-Type": "application/json"}


class HTTPStream(Stream):
    """SSE events read from an upstream response as they arrive, one event per item."""

    def __init__(self, response: Response) -> None:
        self._response = response

    @property
    def rate_limits(self) -> dict[str, str]:
        return rate_limits(self._response)

    def __iter__(self) -> Iterator[bytes]:
        buffer = b""
        try:
            while True:
                data = self._response.read1(65536)  # whatever has arrived; never waits for more
                if not data:
                    break
                buffer += data.replace(b"\r\n", b"\n")
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    if event.strip():
                        yield event + b"\n\n"
        except urllib3.exceptions.ReadTimeoutError:
            raise UpstreamTimeout("the provider stopped sending within its timeout") from None
        except (HTTPError, OSError, AttributeError, ValueError) as exc:
            # AttributeError/ValueError: the response was closed under us (the client left).
            raise UpstreamError(f"the upstream stream broke ({type(exc).__name__})") from None
        self._response.release_conn()  # read to the end: the connection can serve again
        if buffer.strip():
            yield buffer + b"\n\n"

    def close(self) -> None:
        self._response.close()


class OpenAICompatibleAdapter(Adapter):
    """Talks the OpenAI HTTP API to `base_url` with the provider's key and headers."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        headers = {**self.default_headers(), **config.headers}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self.transport = Transport(config.base_url, headers)
        self.timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, config.timeout_s),
                                       read=config.timeout_s)

    def default_headers(self) -> dict[str, str]:
        """Headers every request to this type of provider carries (before the admin's)."""
        return {"User-Agent": "modelproxy"}

    def chat(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self._post_json("/chat/completions", body, request_id)

    def chat_stream(self, body: dict[str, Any], request_id: str) -> Stream:
        response = self._send("POST", "/chat/completions", body, request_id, stream=True)
        return HTTPStream(response)

    def embeddings(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self._post_json("/embeddings", body, request_id)

    def models(self) -> list[dict[str, Any]]:
        answer = _json(self._send("GET", "/models", None, None))
        return answer.get("data", []) if isinstance(answer, dict) else []

    def close(self) -> None:
        self.transport.close()

    def _post_json(self, path: str, body: dict[str, Any], request_id: str) -> Answer:
        response = self._send("POST", path, body, request_id)
        answer = _json(response)
        if not isinstance(answer, dict):
            raise UpstreamError("the upstream answer was not a JSON object", 200)
        return Answer(answer, response.data, rate_limits(response))

    def _send(self, method: str, path: str, body: dict[str, Any] | None,
              request_id: str | None, stream: bool = False) -> Response:
        headers = dict(JSON_BODY) if body is not None else {}
        if request_id:
            headers["X-Request-ID"] = request_id
        data = json.dumps(body).encode() if body is not None else None
        try:
            response = self.transport.send(method, path, data, headers, self.timeout, stream)
        except (HTTPError, OSError) as exc:
            # urllib3 files a refused connection (NewConnectionError) under its timeouts.
            if isinstance(exc, urllib3.exceptions.TimeoutError) \
                    and not isinstance(exc, NewConnectionError):
                raise UpstreamTimeout(f"provider {self.config.name} did not answer within "
                                      f"{self.config.timeout_s:g} s") from None
            raise UpstreamError(
                f"cannot reach provider {self.config.name}: {_reason(exc)}"
            ) from None
        if response.status >= 400:
            message = _scrub(_error_message(response), self.config.api_key)
            response.close()
            raise UpstreamError(
                f"provider {self.config.name} answered {response.status}: {message}",
                response.status, response.headers.get("Retry-After"),
            )
        return response


def _json(response: Response) -> Any:
    try:
        return json.loads(response.data)
    except (ValueError, HTTPError, OSError):
        raise UpstreamError("the upstream answer was not valid JSON", response.status) from None


def rate_limits(response: Response) -> dict[str, str]:
    """The provider's x-ratelimit-* headers (OpenAI's, and most compatible servers')."""
    return {name.lower(): value for name, value in response.headers.items()
            if name.lower().startswith("x-ratelimit-")}


def _error_message(response: Response) -> str:
    """The provider's own error message, trimmed; never echoes request headers."""
    try:
        error = json.loads(response.data).get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError, HTTPError, OSError):
        message = None
    return str(message or response.reason or "error")[:500]


def _reason(exc: Exception) -> str:
    if isinstance(exc, NameResolutionError):
        return "unknown host"
    if "Connection refused" in str(exc):
        return "connection refused"
    return type(exc).__name__


_KEY_LIKE = re.compile(r"\b(sk|mpx)[-_][A-Za-z0-9_*.-]{6,}")


def _scrub(message: str, api_key: str | None) -> str:
    """Providers quote (partly masked) keys in errors; clients never see any of it."""
    if api_key:
        message = message.replace(api_key, "***")
    return _KEY_LIKE.sub(r"\1-***", message)
