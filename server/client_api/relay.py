"""Forwarding a call upstream and relaying the answer: whole, or streamed event by event."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Gauge

from server.client_api.call import Call, ClientError
from server.client_api.usage import (
    answer_problem,
    estimate_answer,
    prompt_estimate,
    read_usage,
)
from server.providers import Adapter, Answer, Stream, UpstreamError, UpstreamTimeout
from server.providers.sse import data_of

# Upstream statuses that mean the client's request was wrong: passed on as 400.
CLIENT_FAULTS = {400, 413, 422}


def upstream_failure(exc: UpstreamError) -> ClientError:
    if isinstance(exc, UpstreamTimeout):
        return ClientError(504, exc.message, "upstream_timeout")
    if exc.status in CLIENT_FAULTS:
        return ClientError(400, exc.message, "upstream_rejected_request")
    # The provider's Retry-After (it is rate-limiting or overloaded) goes on, so clients
    # that retry 502s (the OpenAI SDKs do) wait as long as the provider asked.
    retry = {"Retry-After": exc.retry_after} if exc.retry_after else None
    return ClientError(502, exc.message, "upstream_error", headers=retry)


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
    call.prompt_tokens, call.completion_tokens = usage


def call_upstream(call: Call, adapter: Adapter, kind: str, body: dict[str, Any],
                  client: socket.socket | None = None) -> dict[str, Any]:
    """A whole (non-streamed) answer, with the call's usage recorded; given up (ClientGone)
    if the client hangs up while a slow answer is awaited."""
    send = adapter.chat if kind == "chat" else adapter.embeddings
    try:
        with given_up_if_client_leaves(client, after_s=WATCH_AFTER_S):
            answer = send(body, call.request_id)
    except UpstreamError as exc:
        raise upstream_failure(exc) from None
    call.mark_first_byte()
    problem = answer_problem(kind, answer)
    if problem:  # relayed, it would break the client's SDK; counted, our estimate
        raise ClientError(502, f"the upstream answer is not a valid {kind} answer: {problem}",
                          "upstream_error")
    record_usage(call, answer, body)
    if not call.rate_headers and isinstance(answer, Answer):  # the token has no rpm
        call.rate_headers = answer.rate_limits
    return answer


def open_stream(call: Call, adapter: Adapter, body: dict[str, Any],
                client: socket.socket | None = None) -> Stream:
    """Start a streamed answer; asks upstream for usage whatever the client asked."""
    body = {**body, "stream_options": {**(body.get("stream_options") or {}),
                                        "include_usage": True}}
    try:
        with given_up_if_client_leaves(client, after_s=0):
            stream = adapter.chat_stream(body, call.request_id)
    except UpstreamError as exc:
        raise upstream_failure(exc) from None
    if not call.rate_headers:  # the token has no rpm: the provider's limits, if any
        call.rate_headers = stream.rate_limits
    return stream


def error_event(message: str, code: str) -> bytes:
    error = {"message": message, "type": "upstream_error", "code": code}
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"


def stream_chunk(data: bytes | None) -> dict[str, Any] | None:
    """The `chat.completion.chunk` in the data of an upstream event (None for an event
    without data: a comment, a keep-alive). Raises UpstreamError for what no client could read:
    data that is not a JSON object, choices that are not objects, a delta that is not an
    object, content that is not text; and for the provider's own mid-stream error event,
    so the client gets one error event in the proxy's shape."""
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
        raise UpstreamError(f"the upstream stream failed: {str(message or 'error')[:500]}")
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
    if delta is None:
        return True
    return isinstance(delta, dict) and isinstance(delta.get("content"), str | None)


class StreamRelay:
    """Passes upstream events to the client as they come, keeping count of usage.

    Hides the usage-only chunk from clients that did not ask for it; turns an upstream
    failure into one error event; on client disconnect closes upstream at once. `finish`
    runs exactly once, when the stream is over for any reason.
    """

    def __init__(self, call: Call, stream: Stream, body: dict[str, Any],
                 finish: Callable[[Call], None], client_socket: socket.socket | None,
                 open_streams: Gauge) -> None:
        self.call = call
        self.stream = stream
        self.body = body
        self.finish = finish
        self.client_socket = client_socket
        self.open_streams = open_streams
        self.wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.completion_chars = 0
        self.usage_seen = False
        self.disconnected = False
        self._finished = False
        self._events = self._relay()

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        """Called by the WSGI server when the response ends, completed or not."""
        self._events.close()
        if not self._finished:  # closed before it began: the client left at once
            self._client_left()
            self._close_call()

    def _relay(self) -> Iterator[bytes]:
        self.open_streams.inc()
        watcher = watch_disconnect(self.client_socket, self._client_left)
        done = False
        try:
            for event in self.stream:
                self.call.mark_first_byte()
                data = data_of(event)
                done = data == b"[DONE]"
                if done or self._inspect(data):
                    yield event
            if not done and not self.disconnected:
                self.call.fail(502, "the upstream stream ended before [DONE]")
                yield error_event(self.call.error, "upstream_error")
        except UpstreamError as exc:
            if not self.disconnected:
                timeout = isinstance(exc, UpstreamTimeout)
                self.call.fail(504 if timeout else 502, exc.message)
                yield error_event(exc.message, "upstream_timeout" if timeout
                                  else "upstream_error")
        except GeneratorExit:  # the server noticed the client left while writing
            self._client_left()
            raise
        finally:
            if watcher is not None:
                watcher.kill(block=False)
            self._close_call()

    def _inspect(self, data: bytes | None) -> bool:
        """Note usage and content; False for a usage-only chunk the client did not ask for.
        Raises UpstreamError for a chunk no client could read (`stream_chunk`)."""
        chunk = stream_chunk(data)
        if chunk is None:
            return True
        usage = read_usage(chunk.get("usage"))
        if usage is not None:
            self.usage_seen = True
            self.call.prompt_tokens, self.call.completion_tokens = usage
        if chunk.get("usage") is not None and not chunk.get("choices"):
            return self.wants_usage  # the usage-only chunk, believable or not
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                self.completion_chars += len(content)
        return True

    def _client_left(self) -> None:
        if not self.disconnected:
            self.disconnected = True
            self.call.fail(499, "the client disconnected")
            self.stream.close()

    def _close_call(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.open_streams.dec()
        self.stream.close()
        if not self.usage_seen:
            self.call.usage_estimated = True
            self.call.prompt_tokens = prompt_estimate(self.body)
            self.call.completion_tokens = (self.completion_chars + 3) // 4
        self.finish(self.call)


def client_gone(sock: socket.socket) -> bool:
    """Wait until the client socket has something to say: True if it hung up."""
    from gevent.socket import wait_read

    try:
        wait_read(sock.fileno())
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def watch_disconnect(sock: socket.socket | None, on_gone: Callable[[], None]) -> Any:
    """Under gevent, a greenlet that calls `on_gone` as soon as the client hangs up, even
    while upstream is silent. None where there is no socket to watch (tests, WSGI shims)."""
    if sock is None:
        return None
    import gevent

    def watch() -> None:
        if client_gone(sock):
            on_gone()

    return gevent.spawn(watch)


class ClientGone(BaseException):
    """The client hung up while its request waited for the provider. Raised into the
    waiting call from outside, so, like GreenletExit, not an Exception: an adapter's
    `except Exception` must not take it for a provider failure."""


# Whole answers are watched for the client leaving only once they have been awaited this
# long: a watcher for every request cost ~6% of the proxy's CPU, and quick answers have
# nothing worth cancelling. A slow one (a long generation) is closed upstream, so a
# self-hosted server such as vLLM stops generating for nobody. Streams are watched from
# the start.
WATCH_AFTER_S = 0.5


@contextlib.contextmanager
def given_up_if_client_leaves(sock: socket.socket | None, after_s: float) -> Iterator[None]:
    """Run the block; if it is still running `after_s` seconds on and the client hangs
    up, raise ClientGone in it where it waits (urllib3 then closes the upstream
    connection). Plain run where there is no socket to watch."""
    if sock is None:
        yield
        return
    import gevent

    watch = _ClientWatch(sock, gevent.getcurrent())
    timer = gevent.get_hub().loop.timer(after_s)
    timer.start(watch.start)  # a bare timer until then: ~0.4 us, a greenlet ~4 us
    try:
        yield
    finally:
        timer.close()
        watch.stop()


class _ClientWatch:
    """Once started, a greenlet that raises ClientGone in `caller` if the client hangs up
    before `stop()`."""

    def __init__(self, sock: socket.socket, caller: Any) -> None:
        self.sock = sock
        self.caller = caller
        self.armed = True
        self.greenlet: Any = None

    def start(self) -> None:
        import gevent

        self.greenlet = gevent.spawn(self._watch)

    def stop(self) -> None:
        self.armed = False
        if self.greenlet is not None:
            self.greenlet.kill(block=False)

    def _watch(self) -> None:
        import gevent

        if client_gone(self.sock) and self.armed:
            gevent.get_hub().loop.run_callback(self._interrupt)

    def _interrupt(self) -> None:  # in the hub: only if the block has not ended meanwhile
        if self.armed:
            self.caller.throw(ClientGone)
