"""The client: one ``requests`` session, typed errors, retries with backoff and jitter."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import math
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, cast

import requests
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from modelproxy._errors import (
    APIConnectionError,
    APITimeoutError,
    ModelProxyError,
    QuotaExceededError,
    RateLimitError,
    error_from_body,
    error_from_event,
)
from modelproxy._sse import SSEDecoder
from modelproxy._types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    EmbeddingsResponse,
    Health,
    ModelList,
)
from modelproxy._version import __version__

__all__ = ["ChatCompletionStream", "ModelProxyClient", "retry_delay"]

RETRY_STATUSES = frozenset({502, 503, 504})
MAX_BACKOFF = 8.0  # seconds: the longest wait between attempts when no Retry-After says

_SEED_PATHS = {"chat": "/api/chat", "embeddings": "/api/embeddings"}
_V1_PATHS = {"chat": "/v1/chat/completions", "embeddings": "/v1/embeddings"}


def retry_delay(attempt: int, backoff: float, retry_after: float | None = None,
                rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    With a ``Retry-After`` of ``retry_after`` seconds: that, plus up to 10% (at most 1 s)
    of jitter so that clients told the same time do not return at once. Otherwise
    exponential backoff, ``backoff * 2**attempt`` capped at 8 s, with "equal jitter":
    a random point in the upper half of that.
    """
    if retry_after is not None:
        return retry_after + min(1.0, 0.1 * retry_after) * rand()
    ceiling = min(MAX_BACKOFF, backoff * 2 ** attempt)
    return ceiling / 2 + ceiling / 2 * rand()


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class ChatCompletionStream(Iterator[ChatCompletionChunk]):
    """A streamed chat completion: iterate it for parsed ``chat.completion.chunk`` dicts.

    The request has been made and answered ``200`` by the time you hold one of these.
    Iteration ends after ``data: [DONE]``. An error event from the server (the provider
    failed mid-stream) raises the matching :class:`~modelproxy.ModelProxyError`
    (usually :class:`~modelproxy.UpstreamError`); a connection cut short raises
    :class:`~modelproxy.APIConnectionError`. Nothing is retried once a stream has started.

    The connection is closed when the stream ends, when you ``break`` out of the loop
    (the stream is closed as soon as it is no longer referenced), on :meth:`close`, or
    on leaving a ``with`` block. The server then stops the upstream request at once.
    """

    def __init__(self, response: requests.Response, request_id: str) -> None:
        self.response = response
        #: The ``X-Request-ID`` of this request.
        self.request_id = request_id
        self._events = _events(response, request_id)

    def __iter__(self) -> ChatCompletionStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        return next(self._events)

    def close(self) -> None:
        """Stop reading and close the connection (idempotent)."""
        self._events.close()
        self.response.close()

    def __enter__(self) -> ChatCompletionStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # nothing useful to do while being collected
            self.close()


def _events(response: requests.Response, request_id: str) -> Iterator[ChatCompletionChunk]:
    """The parsed chunks of a stream, until ``[DONE]``.

    A function, not a method: holding no reference to the ChatCompletionStream lets that
    be collected, and so closed, as soon as the caller drops it.
    """
    decoder = SSEDecoder()
    try:
        for raw in response.iter_content(chunk_size=None):
            for data in decoder.feed(raw):
                if data == "[DONE]":
                    return
                yield _chunk(data, request_id)
        raise APIConnectionError("the stream ended before data: [DONE]", request_id=request_id)
    except (requests.RequestException, ProtocolError, OSError) as exc:
        raise _connection_error(exc, request_id, None) from exc
    finally:
        response.close()


def _chunk(data: str, request_id: str) -> ChatCompletionChunk:
    try:
        payload = json.loads(data)
    except ValueError:
        raise ModelProxyError(f"the stream sent an event that is not JSON: {data[:200]!r}",
                              request_id=request_id) from None
    if isinstance(payload, dict) and "error" in payload:
        raise error_from_event(payload, request_id)
    return cast(ChatCompletionChunk, payload)


class ModelProxyClient:
    """A client for ModelProxy's client API.

    :param base_url: the server's root URL, such as ``"http://127.0.0.1:8787"``
        (not ``.../v1``: the client picks the paths).
    :param token: the client token the admin issued (``mpx_...``).
    :param timeout: seconds to wait for the connection and for each read; for a stream,
        the longest silence between two chunks.
    :param max_retries: retries after the first attempt, for connection errors and
        timeouts, 429 rate limits, 502, 503 and 504; never for other statuses, never
        once a stream has started. ``0`` turns retries off.
    :param retry_backoff: the first backoff in seconds; it doubles with each retry
        (capped at 8 s), with jitter.
    :param max_retry_wait: the longest ``Retry-After`` (seconds) the client waits out; a
        429 (or a 502 passing on the provider's) asking for longer is raised at once, with
        ``retry_after`` for the caller to decide.
    :param headers: extra headers for every request.
    :param session: a ``requests.Session`` to use (proxies, TLS settings); one is made
        otherwise. The client closes only a session it made.
    :param ca_file: a PEM file of the CA certificates to trust for an ``https://`` server,
        such as your office CA's ``ca.pem``, instead of the system's (``REQUESTS_CA_BUNDLE``
        does the same from the environment). Without it, the system's CAs are trusted.

    Every request sends an ``X-Request-ID`` (the same one on each retry of a call); the
    server logs it and every error carries it as ``request_id``.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 60,
                 max_retries: int = 2, retry_backoff: float = 0.5,
                 max_retry_wait: float = 20.0, headers: Mapping[str, str] | None = None,
                 session: requests.Session | None = None,
                 ca_file: str | os.PathLike[str] | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// or https:// URL, not {base_url!r}")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_retry_wait = max_retry_wait
        self.headers = dict(headers or {})
        self._own_session = session is None
        # Given per request, so that it wins over REQUESTS_CA_BUNDLE; None leaves a given
        # session's own `verify` alone.
        self._verify: str | None = None
        if ca_file is not None:
            self._verify = os.fspath(ca_file)
            if not os.path.isfile(self._verify):
                raise ValueError(f"ca_file {self._verify!r} is not a file")
        self.session = session if session is not None else requests.Session()

    # --- the API --------------------------------------------------------------------------

    def chat_completion(self, endpoint: str | None = None, *, messages: Sequence[ChatMessage],
                        model: str | None = None, **params: Any) -> ChatCompletion:
        """A chat completion from ``endpoint`` (a path such as ``"/api/chat"``).

        ``messages`` is the conversation; other OpenAI chat parameters (``temperature``,
        ``max_tokens``, ``tools``...) pass through as keyword arguments. Without
        ``endpoint`` the server's ``/api/chat`` endpoint answers; give ``model=`` instead
        to name an endpoint by name through the OpenAI-compatible ``/v1`` surface.
        Returns the server's ``chat.completion`` object as a dict.
        """
        if params.get("stream"):
            raise ValueError("use chat_completion_stream() for a streamed answer")
        params.pop("stream", None)
        path, body = self._route("chat", endpoint, model)
        body.update(messages=list(messages), **params)
        return cast(ChatCompletion, self._json("POST", path, body))

    def chat_completion_stream(self, endpoint: str | None = None, *,
                               messages: Sequence[ChatMessage], model: str | None = None,
                               **params: Any) -> ChatCompletionStream:
        """A streamed chat completion: an iterator of ``chat.completion.chunk`` dicts.

        Takes the same arguments as :meth:`chat_completion`. Errors before the stream
        starts (bad token, unknown endpoint...) are raised here, after any retries; see
        :class:`ChatCompletionStream` for what happens afterwards::

            for chunk in client.chat_completion_stream(endpoint="/api/chat", messages=m):
                print(chunk["choices"][0]["delta"].get("content") or "", end="")
        """
        path, body = self._route("chat", endpoint, model)
        params.pop("stream", None)
        body.update(messages=list(messages), stream=True, **params)
        request_id = _new_request_id()
        response = self._send("POST", path, body, request_id, stream=True)
        return ChatCompletionStream(response, request_id)

    def embeddings(self, endpoint: str | None = None, *,
                   input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
                   model: str | None = None, **params: Any) -> EmbeddingsResponse:
        """Embeddings of ``input`` (a string or a list of them) from ``endpoint``.

        Without ``endpoint`` the server's ``/api/embeddings`` endpoint answers; ``model=``
        names an endpoint through ``/v1`` instead. Other OpenAI embeddings parameters
        (``dimensions``, ``encoding_format``...) pass through.
        """
        path, body = self._route("embeddings", endpoint, model)
        body.update(input=input if isinstance(input, str) else list(input), **params)
        return cast(EmbeddingsResponse, self._json("POST", path, body))

    def models(self, provider: str | None = None) -> ModelList:
        """The endpoints this token may use, optionally only those of one ``provider``."""
        query = {"provider": provider} if provider is not None else None
        return cast(ModelList, self._json("GET", "/api/models", None, query))

    def health(self) -> Health:
        """The server's health: ``{"status": "ok", "version": ..., "database": "ok"}``."""
        return cast(Health, self._json("GET", "/api/health", None))

    # --- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections this client holds (if it made its own session)."""
        if self._own_session:
            self.session.close()

    def __enter__(self) -> ModelProxyClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ModelProxyClient({self.base_url!r}, token='{self.token[:8]}...')"

    # --- the plumbing ---------------------------------------------------------------------

    @staticmethod
    def _route(kind: str, endpoint: str | None, model: str | None) -> tuple[str, dict[str, Any]]:
        if endpoint is not None and model is not None:
            raise ValueError("give endpoint (a path such as /api/chat) or model "
                             "(an endpoint name, via /v1), not both")
        if model is not None:
            return _V1_PATHS[kind], {"model": model}
        return _SEED_PATHS[kind], {"endpoint": endpoint or _SEED_PATHS[kind]}

    def _json(self, method: str, path: str, body: dict[str, Any] | None,
              query: dict[str, str] | None = None) -> Any:
        request_id = _new_request_id()
        response = self._send(method, path, body, request_id, query=query)
        try:
            return response.json()
        except ValueError:
            raise ModelProxyError(
                f"the server answered {response.status_code} with a body that is not JSON",
                status_code=response.status_code, request_id=_request_id(response, request_id),
            ) from None

    def _send(self, method: str, path: str, body: dict[str, Any] | None, request_id: str,
              *, query: dict[str, str] | None = None, stream: bool = False) -> requests.Response:
        """One call: attempts until a 2xx response (returned) or an error worth raising."""
        headers = {
            "Accept": "text/event-stream" if stream else "application/json",
            "User-Agent": f"modelproxy-client-python/{__version__}",
            **self.headers,
            "Authorization": f"Bearer {self.token}",
            "X-Request-ID": request_id,
        }
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method, self.base_url + path, json=body, params=query, headers=headers,
                    timeout=self.timeout, stream=stream,
                    **({"verify": self._verify} if self._verify else {}))
            except requests.exceptions.SSLError as exc:  # not retried: it will not change
                raise _tls_error(exc, request_id) from exc
            except requests.RequestException as exc:
                error: ModelProxyError = _connection_error(exc, request_id, self.timeout)
            else:
                if response.ok:
                    return response
                error = _error_from_response(response, request_id)
            if attempt >= self.max_retries or not self._retryable(error):
                raise error
            time.sleep(retry_delay(attempt, self.retry_backoff, error.retry_after))
            attempt += 1

    def _retryable(self, error: ModelProxyError) -> bool:
        if isinstance(error, APIConnectionError):
            return True
        if isinstance(error, QuotaExceededError):
            return False
        if error.retry_after is not None and error.retry_after > self.max_retry_wait:
            return False  # asked to wait longer than the caller allows: theirs to decide
        return isinstance(error, RateLimitError) or error.status_code in RETRY_STATUSES


def _new_request_id() -> str:
    return "req_" + uuid.uuid4().hex


def _request_id(response: requests.Response, sent: str) -> str:
    return response.headers.get("X-Request-ID") or sent


def _error_from_response(response: requests.Response, request_id: str) -> ModelProxyError:
    """The typed error for a non-2xx response (whose body is read, and the response closed)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    except requests.RequestException:
        body = None
    finally:
        response.close()
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return error_from_body(response.status_code, body, _request_id(response, request_id),
                           retry_after)


def _tls_error(exc: requests.exceptions.SSLError, request_id: str) -> APIConnectionError:
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return APIConnectionError(
            "the server's TLS certificate is not trusted: pass ca_file= the CA certificate "
            f"that signed it (your office CA's ca.pem); {exc}", request_id=request_id)
    return APIConnectionError(f"the TLS connection to ModelProxy failed: {exc}",
                              request_id=request_id)


def _connection_error(exc: BaseException, request_id: str,
                      timeout: float | None) -> APIConnectionError:
    timed_out = isinstance(exc, requests.Timeout) or any(
        isinstance(arg, ReadTimeoutError | TimeoutError) for arg in getattr(exc, "args", ()))
    if timed_out:
        within = f" within {timeout:g} s" if timeout is not None else " in time"
        return APITimeoutError(f"ModelProxy did not answer{within}", request_id=request_id)
    return APIConnectionError(f"could not talk to ModelProxy: {exc}", request_id=request_id)
