"""Forwarding a call upstream and relaying the answer: whole, or streamed event by event."""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from prometheus_client import Gauge

from server.client_api.call import Call, ClientError
from server.client_api.client_watch import (
    WATCH_AFTER_S,
    given_up_if_client_leaves,
    watch_disconnect,
)
from server.client_api.first_event import held_to_first_data
from server.client_api.router import retry_after_seconds
from server.client_api.usage import (
    answer_problem,
    estimate_answer,
    prompt_estimate,
    read_cached,
    read_usage,
)
from server.dialects import CHAT
from server.errors import INTERNAL_ERROR
from server.providers import Adapter, Answer, Stream, UpstreamError, UpstreamTimeout
from server.providers.base import scrub
from server.providers.sse import data_of
from server.stopping import STOPPED, ServerStopped

log = logging.getLogger(__name__)

# Upstream statuses that mean the client's request was wrong: passed on as 400.
CLIENT_FAULTS = {400, 413, 422}
# Anthropic's "overloaded": a 503 with Retry-After, which every client SDK retries.
OVERLOADED = {529}


def upstream_failure(exc: UpstreamError) -> ClientError:
    if isinstance(exc, UpstreamTimeout):
        return ClientError(504, exc.message, "upstream_timeout")
    if exc.status in CLIENT_FAULTS:
        return ClientError(400, exc.message, "upstream_rejected_request")
    wait = client_retry_after(exc.retry_after)
    if exc.status in OVERLOADED:  # the provider asks to be tried again soon
        return ClientError(503, exc.message, "upstream_overloaded",
                           headers={"Retry-After": wait or "1"})
    # The provider's Retry-After (it is rate-limiting or overloaded) goes on, so clients
    # that retry 502s (the OpenAI SDKs do) wait as long as the provider asked.
    return ClientError(502, exc.message, "upstream_error",
                       headers={"Retry-After": wait} if wait else None)


def client_retry_after(header: str | None) -> str | None:
    """The provider's Retry-After as the client gets it: whole seconds, at most the hour
    the router cools a target for; None for junk. Never passed on as it came: 400 digits,
    a date in 2099 or control characters (which strict HTTP clients refuse) broke or
    stalled clients that believe it."""
    seconds = retry_after_seconds(header)
    return None if seconds is None else str(math.ceil(seconds))


def upstream_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The client's body as the provider gets it: our fields out, the real model in."""
    forwarded = {k: v for k, v in body.items() if k != "endpoint"}
    forwarded["model"] = model
    return forwarded


def record_usage(call: Call, answer: dict[str, Any], body: dict[str, Any]) -> None:
    """The answer's usage on the call; estimated (and marked so) where it has none that
    can be believed: a provider's negative or absurd count must not give quota back."""
    usage = read_usage(answer.get("usage"))
    if usage is None:
        call.usage_estimated = True
        usage = prompt_estimate(body), estimate_answer(answer)
        call.cached_tokens = 0  # an estimate is priced as uncached input
    else:
        call.cached_tokens = read_cached(answer["usage"], usage[0])
    call.prompt_tokens, call.completion_tokens = usage


def call_upstream(call: Call, adapter: Adapter, kind: str, body: dict[str, Any],
                  client: socket.socket | None = None) -> dict[str, Any]:
    """A whole (non-streamed) answer, with the call's usage recorded; given up (ClientGone)
    if the client hangs up while a slow answer is awaited. The provider's failure is raised
    as UpstreamError (server/client_api/routing.py may try another target)."""
    send = adapter.chat if kind == "chat" else adapter.embeddings
    with given_up_if_client_leaves(client, after_s=WATCH_AFTER_S):
        answer = send(body, call.request_id)  # UpstreamError: routing decides what next
    call.mark_first_byte()
    problem = answer_problem(kind, answer)
    if problem:  # relayed, it would break the client's SDK. The provider is broken (a 200
        # with an error object, say), not the request: routing may try another target.
        raise UpstreamError(f"the upstream answer is not a valid {kind} answer: {problem}")
    record_usage(call, answer, body)
    if not call.rate_headers and isinstance(answer, Answer):  # the token has no rpm
        call.rate_headers = answer.rate_limits
    return answer


def open_stream(call: Call, adapter: Adapter, body: dict[str, Any],
                client: socket.socket | None = None) -> Stream:
    """Start a streamed answer, held until its first data event (first_event.py); asks
    upstream for usage whatever the client asked."""
    body = {**body, "stream_options": {**(body.get("stream_options") or {}),
                                        "include_usage": True}}
    opened = time.monotonic()
    with given_up_if_client_leaves(client, after_s=0):
        stream = adapter.chat_stream(body, call.request_id)  # UpstreamError: see routing
        stream = held_to_first_data(stream, CHAT, adapter, opened)
    if not call.rate_headers:  # the token has no rpm: the provider's limits, if any
        call.rate_headers = stream.rate_limits
    return stream


def error_event(message: str, code: str, type_: str = "upstream_error") -> bytes:
    error = {"message": message, "type": type_, "code": code}
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"


def stream_chunk(data: bytes | None, api_key: str | None = None) -> dict[str, Any] | None:
    """The `chat.completion.chunk` in the data of an upstream event (None for an event
    without data: a comment, a keep-alive). Raises UpstreamError for what no client could
    read: data that is not a JSON object, choices that are not a list of objects, a delta
    that is not an object; and for the provider's own mid-stream error event, so the client
    gets one error event in the proxy's shape (its message scrubbed of `api_key`)."""
    if data is None:
        return None
    try:
        chunk = json.loads(data)
    except ValueError:
        raise UpstreamError("the upstream sent an event that is not JSON") from None
    if not isinstance(chunk, dict):
        raise UpstreamError("the upstream sent an event that is not a JSON object")
    if chunk.get("error") and not chunk.get("choices"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise UpstreamError("the upstream stream failed: "
                            + scrub(str(message or "error"), api_key))
    choices = chunk.get("choices")
    if choices is None:
        return chunk
    if not isinstance(choices, list) or not all(_readable_choice(c) for c in choices):
        raise UpstreamError("the upstream sent a chunk of the wrong shape (choices)")
    return chunk


def _readable_choice(choice: Any) -> bool:
    if not isinstance(choice, dict):
        return False
    delta = choice.get("delta")
    return delta is None or isinstance(delta, dict)


def text_chars(content: Any) -> int:
    """The characters of text in a delta's content: a string, or a list of parts (some
    OpenAI-compatible servers send `[{"type": "text", "text": ...}]`); else none."""
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return 0
    chars = 0
    for part in content:
        text = part.get("text") if isinstance(part, dict) else part
        if isinstance(text, str):
            chars += len(text)
    return chars


class StreamRelay:
    """Passes upstream events to the client as they come, keeping count of usage.

    Hides the usage-only chunk from clients that did not ask for it; turns an upstream
    failure into one error event; on client disconnect closes upstream at once. Stops at
    `[DONE]` (what a provider sends after it is not read). The call is finished (quota
    settled, row written) exactly once, before the stream's last event reaches the client:
    a client that sends its next request on `[DONE]`, to any server, is counted exactly.
    """

    def __init__(self, call: Call, stream: Stream, body: dict[str, Any],
                 finish: Callable[[Call], None], client_socket: socket.socket | None,
                 open_streams: Gauge, api_key: str | None = None) -> None:
        self.call = call
        self.stream = stream
        self.body = body
        self.finish = finish
        self.client_socket = client_socket
        self.open_streams = open_streams
        self.api_key = api_key  # the provider's, hidden from its error messages
        self.wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.completion_chars = 0
        self.usage_seen = False
        self.disconnected = False
        self._finished = False
        self._closed = False
        open_streams.inc()  # here, not when iterated: a relay closed unstarted counts too
        self._events = self._relay()

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        """Called by the WSGI server when the response ends, completed or not."""
        self._events.close()
        if not self._finished:  # closed before it began: the client left at once
            self._client_left()
        self._close_upstream()
        self._finish_call()

    def _relay(self) -> Iterator[bytes]:
        watcher = watch_disconnect(self.client_socket, self._client_left)
        try:
            last = yield from self._pass_events()
            self._finish_call()
            if last is not None:
                yield self._closing(last)
            # Nothing more is read from upstream; it is closed once [DONE] is written
            # (finally, below): by then the answer's end, sent right after [DONE], has as
            # a rule arrived, and the connection goes back to the pool rather than cost
            # the next stream a new one (a TLS handshake, to a provider far away).
        except GeneratorExit:  # the server noticed the client left while writing
            self._client_left()
            raise
        except ServerStopped:  # the stop's grace period ended while it waited upstream
            self.call.fail(503, STOPPED)
            self._finish_call()
            yield self._error_event(STOPPED, "server_stopped", "server_error")
        except Exception:  # a bug: logged, and the client told, never a 200 row
            log.exception("unhandled error relaying a stream")
            self.call.fail(500, INTERNAL_ERROR)
            self._finish_call()
            yield self._error_event(INTERNAL_ERROR, "internal_error", "server_error")
        finally:
            if watcher is not None:
                watcher.kill(block=False)
            self._close_upstream()
            self._finish_call()

    def _pass_events(self) -> Generator[bytes, None, bytes | None]:
        """Relay the events before `[DONE]`; return the stream's last event for the client:
        `[DONE]` itself, or one error event (None once the client has left)."""
        try:
            for event in self.stream:
                self.call.mark_first_byte()
                data = data_of(event)
                if data == b"[DONE]":
                    return event
                if self._inspect(data):
                    yield event
            failure = UpstreamError("the upstream stream ended before [DONE]")
        except UpstreamError as exc:
            failure = exc
        if self.disconnected:
            return None
        return self._failed(failure)

    def _failed(self, failure: UpstreamError) -> bytes:
        """The call marked failed by `failure`, and the error event that ends the stream."""
        timeout = isinstance(failure, UpstreamTimeout)
        self.call.fail(504 if timeout else 502, failure.message)
        code = "upstream_timeout" if timeout else "upstream_error"
        return self._error_event(failure.message, code, "upstream_error")

    def _closing(self, last: bytes) -> bytes:
        """The stream's last event, once the call is finished (its usage final)."""
        return last

    def _error_event(self, message: str, code: str, type_: str) -> bytes:
        return error_event(message, code, type_)

    def _inspect(self, data: bytes | None) -> bool:
        """Note usage and content; False for a usage-only chunk the client did not ask for.
        Raises UpstreamError for a chunk no client could read (`stream_chunk`)."""
        chunk = stream_chunk(data, self.api_key)
        if chunk is None:
            return True
        usage = read_usage(chunk.get("usage"))
        if usage is not None:
            self.usage_seen = True
            self.call.prompt_tokens, self.call.completion_tokens = usage
            self.call.cached_tokens = read_cached(chunk["usage"], usage[0])
        if chunk.get("usage") is not None and not chunk.get("choices"):
            return self.wants_usage  # the usage-only chunk, believable or not
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                self.completion_chars += len(content) if type(content) is str \
                    else text_chars(content)
        return True

    def _client_left(self) -> None:
        if not self.disconnected:
            self.disconnected = True
            self.call.fail(499, "the client disconnected")
            self.stream.close()

    def _close_upstream(self) -> None:
        if not self._closed:
            self._closed = True
            self.open_streams.dec()
            self.stream.close()

    def _finish_call(self) -> None:
        """Settle the quota and write the row, with the usage upstream sent (or estimated);
        once. A client leaving after this changes nothing: it had the whole answer."""
        if self._finished:
            return
        self._finished = True
        if not self.usage_seen:
            self.call.usage_estimated = True
            self.call.cached_tokens = 0
            self.call.prompt_tokens = prompt_estimate(self.body)
            self.call.completion_tokens = (self.completion_chars + 3) // 4
        self.finish(self.call)
