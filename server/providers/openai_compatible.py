"""Any server speaking the OpenAI API (vLLM, Ollama, LM Studio, llama.cpp, ...)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import urllib3
from urllib3.exceptions import HTTPError, NameResolutionError, NewConnectionError

from server.providers.base import (
    Adapter,
    Answer,
    ProviderConfig,
    Stream,
    UpstreamError,
    UpstreamTimeout,
    scrub,
)
from server.providers.http_stream import HTTPStream, StreamLimits
from server.providers.sse import MAX_EVENT_BYTES
from server.providers.transport import (
    BodyTooLarge,
    DeadlinePassed,
    Response,
    Transport,
    deadline,
    read_body,
)

CONNECT_TIMEOUT_S = 10.0
JSON_BODY = {"Content-Type": "application/json"}
MiB = 1 << 20
# A whole answer is read into memory (its usage is read, its bytes relayed), so it is
# capped. The largest real ones are embeddings: OpenAI's biggest batch (2048 inputs of
# 3072 dimensions) is ~32 MiB as base64 (what the OpenAI SDKs ask for by default); as
# JSON floats a batch of 2048 x 1536 is ~60 MB. Larger is a broken or hostile upstream.
MAX_ANSWER_BYTES = 64 * MiB
ERROR_BODY_BYTES = 64 * 1024  # an error answer: enough for any provider's message
# The longest one stream may last, however lively: the longest generations (128k tokens
# at ~50 tokens/s) take ~45 minutes.
MAX_STREAM_S = 3600.0
EVENT_STREAM = "text/event-stream"
# Headers of a request that a caller's per-request `headers` may not set: the provider's
# credentials and the framing are the adapter's.
RESERVED_HEADERS = frozenset({"authorization", "x-api-key", "host", "content-type",
                              "content-length", "transfer-encoding", "connection"})


class OpenAICompatibleAdapter(Adapter):
    """Talks the OpenAI HTTP API to `base_url` with the provider's key and headers."""

    dialects: tuple[str, ...] = ("chat",)
    # dialect -> path under the base URL, for those of `dialects` this type speaks
    paths: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"chat": "/chat/completions", "responses": "/responses"})
    rate_limit_prefixes: tuple[str, ...] = ("x-ratelimit-",)

    # The caps (see the module's constants), as class attributes: a plug-in adapter for a
    # provider known to send more can raise them.
    max_answer_bytes = MAX_ANSWER_BYTES
    max_event_bytes = MAX_EVENT_BYTES
    max_stream_s = MAX_STREAM_S

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        headers = {**self.default_headers(), **config.headers}
        if config.api_key:
            headers.update(self.auth_headers(config.api_key))
        self.transport = Transport(config.base_url, headers)
        self.timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, config.timeout_s),
                                       read=config.timeout_s)

    def default_headers(self) -> dict[str, str]:
        """Headers every request to this type of provider carries (before the admin's)."""
        return {"User-Agent": "modelproxy"}

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """How the key goes with every request."""
        return {"Authorization": f"Bearer {api_key}"}

    def chat(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self._post_json("/chat/completions", body, request_id)

    def chat_stream(self, body: dict[str, Any], request_id: str) -> Stream:
        return self._open_stream("/chat/completions", body, request_id)

    def send(self, dialect: str, body: dict[str, Any], request_id: str,
             headers: dict[str, str] | None = None) -> Answer:
        return self._post_json(self._path(dialect), body, request_id, headers)

    def open_stream(self, dialect: str, body: dict[str, Any], request_id: str,
                    headers: dict[str, str] | None = None) -> Stream:
        return self._open_stream(self._path(dialect), body, request_id, headers)

    def _path(self, dialect: str) -> str:
        self.check_dialect(dialect)
        return self.paths[dialect]

    def _open_stream(self, path: str, body: dict[str, Any], request_id: str,
                     headers: dict[str, str] | None = None) -> Stream:
        started = time.monotonic()
        with self._deadline():  # the answer's headers, within the provider's timeout
            response = self._send("POST", path, body, request_id, headers)
            self._check_event_stream(response)
        limits = StreamLimits(self.config.timeout_s, self.max_stream_s, self.max_event_bytes)
        return HTTPStream(response, self.config.name, limits, started,
                          rate_limits(response, self.rate_limit_prefixes))

    def embeddings(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self._post_json("/embeddings", body, request_id)

    def models(self) -> list[dict[str, Any]]:
        with self._deadline():
            answer = _json(self._read(self._send("GET", "/models", None, None)))
        return answer.get("data", []) if isinstance(answer, dict) else []

    def close(self) -> None:
        self.transport.close()

    def _post_json(self, path: str, body: dict[str, Any], request_id: str,
                   headers: dict[str, str] | None = None) -> Answer:
        with self._deadline():  # the whole call, however the provider trickles it
            response = self._send("POST", path, body, request_id, headers)
            raw = self._read(response)
        answer = _json(raw)
        if not isinstance(answer, dict):
            raise UpstreamError("the upstream answer was not a JSON object", 200)
        return Answer(answer, raw, rate_limits(response, self.rate_limit_prefixes))

    @contextlib.contextmanager
    def _deadline(self) -> Iterator[None]:
        """The provider's timeout as the budget of the whole block, not of each read."""
        try:
            with deadline(self.config.timeout_s):
                yield
        except DeadlinePassed:
            raise UpstreamTimeout(f"provider {self.config.name} did not answer within "
                                  f"{self.config.timeout_s:g} s") from None

    def _read(self, response: Response) -> bytes:
        try:
            return read_body(response, self.max_answer_bytes)
        except BodyTooLarge as exc:
            raise UpstreamError(f"provider {self.config.name} sent an answer larger than "
                                f"{exc.limit >> 20} MiB, the most the proxy reads") from None
        except (HTTPError, OSError) as exc:
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
                raise self._timed_out() from None
            raise UpstreamError(f"the answer of provider {self.config.name} broke off "
                                f"({type(exc).__name__})") from None

    def _check_event_stream(self, response: Response) -> None:
        """A stream request must be answered with an event stream: a JSON body (a server
        that ignores `stream`, or an error sent with 200) or anything else is refused
        before a byte of it reaches the client. No Content-Type at all is let through."""
        ctype = response.headers.get("Content-Type", "")
        if not ctype or ctype.split(";")[0].strip().lower() == EVENT_STREAM:
            return
        detail = _provider_message(response)
        raise UpstreamError(
            f"provider {self.config.name} answered a stream request with "
            f"{ctype.split(';')[0][:60]}, not an event stream"
            + (f": {scrub(detail, self.config.api_key)}" if detail else ""), response.status)

    def _send(self, method: str, path: str, body: dict[str, Any] | None,
              request_id: str | None, extra: dict[str, str] | None = None) -> Response:
        headers = {name: value for name, value in (extra or {}).items()
                   if name.lower() not in RESERVED_HEADERS}
        if body is not None:
            headers.update(JSON_BODY)
        if request_id:
            headers["X-Request-ID"] = request_id
        data = json.dumps(body).encode() if body is not None else None
        try:
            response = self.transport.send(method, path, data, headers, self.timeout)
        except (HTTPError, OSError) as exc:
            # urllib3 files a refused connection (NewConnectionError) under its timeouts.
            if isinstance(exc, urllib3.exceptions.TimeoutError) \
                    and not isinstance(exc, NewConnectionError):
                raise self._timed_out() from None
            raise UpstreamError(
                f"cannot reach provider {self.config.name}: {_reason(exc)}"
            ) from None
        if response.status >= 400:
            message = scrub(_error_message(response), self.config.api_key)
            raise UpstreamError(
                f"provider {self.config.name} answered {response.status}: {message}",
                response.status, response.headers.get("Retry-After"),
            )
        return response

    def _timed_out(self) -> UpstreamTimeout:
        return UpstreamTimeout(f"provider {self.config.name} did not answer within "
                               f"{self.config.timeout_s:g} s")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise UpstreamError("the upstream answer was not valid JSON", 200) from None


def rate_limits(response: Response, prefixes: tuple[str, ...] = ("x-ratelimit-",)
                ) -> dict[str, str]:
    """The provider's rate-limit headers: x-ratelimit-* (OpenAI's, and most compatible
    servers'), or those of the `prefixes` its type sends."""
    return {name.lower(): value for name, value in response.headers.items()
            if name.lower().startswith(prefixes)}


def _error_message(response: Response) -> str:
    """The provider's own error message (to be scrubbed); never echoes request headers."""
    return _provider_message(response) or str(response.reason or "error")


def _provider_message(response: Response) -> str | None:
    """The message of the OpenAI-shaped error in the body, if it is one (to be scrubbed).
    Reads at most ERROR_BODY_BYTES of the body, and closes the response."""
    try:
        answer = json.loads(read_body(response, ERROR_BODY_BYTES))
    except (ValueError, HTTPError, OSError, BodyTooLarge):
        return None
    finally:
        response.close()
    error = answer.get("error") if isinstance(answer, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message) if message else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, NameResolutionError):
        return "unknown host"
    if "Connection refused" in str(exc):
        return "connection refused"
    return type(exc).__name__
