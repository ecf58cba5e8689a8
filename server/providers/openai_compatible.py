"""Any server speaking the OpenAI API (vLLM, Ollama, LM Studio, llama.cpp, ...)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from server.providers.base import Adapter, ProviderConfig, Stream, UpstreamError, UpstreamTimeout

CONNECT_TIMEOUT_S = 10.0
POOL_SIZE = 256  # connections kept per provider; the proxy holds many streams at once


class HTTPStream(Stream):
    """SSE events read from an upstream response as they arrive, one event per item."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        buffer = b""
        raw = self._response.raw
        try:
            while True:
                data = raw.read1(65536)  # whatever has arrived; never waits for more
                if not data:
                    break
                buffer += data.replace(b"\r\n", b"\n")
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    if event.strip():
                        yield event + b"\n\n"
        except urllib3.exceptions.ReadTimeoutError:
            raise UpstreamTimeout("the provider stopped sending within its timeout") from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError,
                AttributeError, ValueError) as exc:
            # AttributeError/ValueError: the response was closed under us (the client left).
            raise UpstreamError(f"the upstream stream broke ({type(exc).__name__})") from None
        if buffer.strip():
            yield buffer + b"\n\n"

    def close(self) -> None:
        self._response.close()


class OpenAICompatibleAdapter(Adapter):
    """Talks the OpenAI HTTP API to `base_url` with the provider's key and headers."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.session = requests.Session()
        pool = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        self.session.mount("http://", pool)
        self.session.mount("https://", pool)
        # Read HTTP(S)_PROXY/NO_PROXY once, not on every call: requests' per-request look
        # at the environment (proxies, .netrc) was ~12% of the proxy's CPU under load.
        self.session.proxies = requests.utils.get_environ_proxies(config.base_url or "http://x")
        self.session.trust_env = False
        self.session.headers.update(self.default_headers())
        self.session.headers.update(config.headers)
        if config.api_key:
            self.session.headers["Authorization"] = f"Bearer {config.api_key}"

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
        self.session.close()

    def _post_json(self, path: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        answer = _json(self._send("POST", path, body, request_id))
        if not isinstance(answer, dict):
            raise UpstreamError("the upstream answer was not a JSON object", 200)
        return answer

    def _send(self, method: str, path: str, body: dict[str, Any] | None,
              request_id: str | None, stream: bool = False) -> requests.Response:
        headers = {"X-Request-ID": request_id} if request_id else None
        timeout = (min(CONNECT_TIMEOUT_S, self.config.timeout_s), self.config.timeout_s)
        try:
            response = self.session.request(
                method, self.config.base_url + path, json=body, headers=headers,
                timeout=timeout, stream=stream,
            )
        except requests.Timeout:
            raise UpstreamTimeout(
                f"provider {self.config.name} did not answer within {self.config.timeout_s:g} s"
            ) from None
        except requests.RequestException as exc:
            raise UpstreamError(
                f"cannot reach provider {self.config.name}: {_reason(exc)}"
            ) from None
        if response.status_code >= 400:
            message = _scrub(_error_message(response), self.config.api_key)
            response.close()
            raise UpstreamError(
                f"provider {self.config.name} answered {response.status_code}: {message}",
                response.status_code,
            )
        return response


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except (ValueError, requests.RequestException):
        status = response.status_code
        raise UpstreamError("the upstream answer was not valid JSON", status) from None


def _error_message(response: requests.Response) -> str:
    """The provider's own error message, trimmed; never echoes request headers."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError, requests.RequestException):
        message = None
    return str(message or response.reason or "error")[:500]


def _reason(exc: requests.RequestException) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return type(exc).__name__



_KEY_LIKE = re.compile(r"\b(sk|mpx)[-_][A-Za-z0-9_*.-]{6,}")


def _scrub(message: str, api_key: str | None) -> str:
    """Providers quote (partly masked) keys in errors; clients never see any of it."""
    if api_key:
        message = message.replace(api_key, "***")
    return _KEY_LIKE.sub(r"\1-***", message)
