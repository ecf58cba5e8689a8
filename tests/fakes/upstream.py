"""A fake OpenAI-compatible (and Anthropic) upstream: a real HTTP/1.1 server on loopback,
standard library only.

Usage::

    with FakeUpstream() as fake:                      # binds 127.0.0.1:<free port>
        client = OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert fake.last_request.body["model"] == "m"  # the reply's content is "echo: hi"

Endpoints: ``POST /v1/chat/completions`` (plain or SSE stream), ``POST /v1/embeddings`` (float or
base64), ``GET /v1/models[/<id>]``; Anthropic's ``POST /v1/messages`` (whole or its event
stream; tests/fakes/anthropic_replies.py), ``POST /v1/messages/count_tokens`` and, with an
``anthropic-version`` header, its ``GET /v1/models``; OpenAI's ``POST /v1/responses`` (whole or
streamed; tests/fakes/responses_replies.py). Replies are deterministic: they echo the last user
message as ``"echo: <text>"``, unless ``FakeUpstream(script=...)`` says otherwise (text and tool
calls: tests/fakes/script.py); embeddings come from :func:`fake_embedding`. Errors on
``/v1/messages*`` (``fail_next``'s default body, a missing key) are in Anthropic's shape.

Fault modes per provider: a provider whose base URL is ``fake.fault_url(MODE[, ARG])`` gets
that mode's broken answers (huge events, drips, garbage, stalls, bad usage...: the list is in
tests/fakes/faults.py), others on the same fake get normal ones.

Faults, set from the test: ``fail_next``/``fail_always``, ``drop_next`` and ``fail_mid_stream``
act on the next ``count`` requests (``count=None``: until reset); ``set_delay``, ``stream_delay``,
``no_usage_in_stream`` and ``require_api_key`` (``Authorization: Bearer`` or ``x-api-key``)
hold until ``reset()``. Every request is recorded
(``requests``, ``last_request``, ``clear()``); ``streams_aborted`` counts client disconnects
mid-stream, ``requests_abandoned`` those during a ``set_delay`` wait (or a fault mode's).
Plain threads, never gevent: it runs in any process, serving from a daemon thread.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.fakes import anthropic_replies, faults, responses_replies
from tests.fakes.anthropic_replies import anthropic_error
from tests.fakes.replies import (
    chat_reply,
    completion,
    embeddings_list,
    error_for,
    fake_embedding,
    model_object,
    stream_lines,
)
from tests.fakes.script import Script

__all__ = ["DEFAULT_MODELS", "FakeUpstream", "RecordedRequest", "fake_embedding"]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")


class Headers(dict[str, str]):
    """Request headers keyed by lower-cased name; lookups ignore case."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # as sent, query string included
    headers: Headers
    body: Any  # parsed JSON; None when empty or not JSON
    raw: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    fake: FakeUpstream

    def server_bind(self) -> None:  # skips HTTPServer's getfqdn(), which may wait on DNS
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # disconnects are routine here
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    _anthropic = False
    disable_nagle_algorithm = True  # small SSE writes must leave at once
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.fake._lock:
            self.server.fake._conns.add(self.connection)
            self.server.fake.connections_opened += 1

    def finish(self) -> None:
        with self.server.fake._lock:
            self.server.fake._conns.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        fake, raw = self.server.fake, self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with fake._lock:
            fake._requests.append(RecordedRequest(self.command, self.path,
                                                  Headers(self.headers.items()), body, raw))
        if fake._delay and not self._wait(fake._delay):
            fake._count(requests_abandoned=1)
            self.close_connection = True  # the client left: nobody to answer
            return
        if fake._take("drop") is not None:
            self.close_connection = True  # no response at all
            return
        fault, path = faults.parse(urlsplit(self.path).path)
        route = (self.command, path.rstrip("/"))
        self._anthropic = route[1].startswith("/v1/messages")  # errors in Anthropic's shape
        if (fail := fake._take("fail")) is not None or (fail := fake._flap()) is not None:
            status, fail_body, headers = fail
            return self._send(status, fail_body, headers)
        if fake._api_key is not None and f"Bearer {fake._api_key}" not in (
                self.headers.get("Authorization"), "Bearer " + self.headers.get("x-api-key", "")):
            return self._send(401, self._error(401, "Incorrect API key provided."))
        if fault is not None and self.command == "POST" and faults.serve(self, fault, route[1],
                                                                          body):
            return
        if route == ("POST", "/v1/chat/completions"):
            self._chat(body)
        elif route == ("POST", "/v1/embeddings"):
            self._embeddings(body)
        elif route in (("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens")):
            self._messages(body, counting=route[1].endswith("count_tokens"))
        elif route == ("POST", "/v1/responses"):
            self._responses(body)
        elif route == ("GET", "/v1/models") and "anthropic-version" in self.headers:
            self._send(200, anthropic_replies.models_list(fake.models))
        elif route == ("GET", "/v1/models"):
            self._send(200, {"object": "list", "data": [model_object(m) for m in fake.models]})
        elif route[0] == "GET" and route[1].removeprefix("/v1/models/") in fake.models:
            self._send(200, model_object(route[1].removeprefix("/v1/models/")))
        else:
            self._send(404, error_for(404, f"Unknown request URL: {route[0]} {route[1]}"))

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _chat(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._send(400, error_for(400, "'messages' is a required property"))
        fake = self.server.fake
        reply = chat_reply(body, fake.script)
        if body.get("stream"):
            cut = fake._take("mid_stream")  # content chunks to send before dying, or None
            n = max(1, fake.stream_chunks)
            return self._stream(stream_lines(reply, n, self._wants_usage(body)),
                                send_only=None if cut is None else 1 + min(cut, n))
        self._send(200, completion(reply))

    def _messages(self, body: Any, counting: bool) -> None:
        """POST /v1/messages (whole or streamed) and /v1/messages/count_tokens."""
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._send(400, anthropic_error(400, "messages: Field required"))
        fake = self.server.fake
        if counting:
            return self._send(200, {"input_tokens": anthropic_replies.input_tokens(body)})
        if not body.get("stream"):
            return self._send(200, anthropic_replies.message(body, fake.script))
        events = anthropic_replies.stream_events(body, fake.stream_chunks, fake.script)
        cut = fake._take("mid_stream")  # message_start, ping, block start, `cut` deltas
        self._stream(events, send_only=None if cut is None else 3 + cut)

    def _responses(self, body: Any) -> None:
        if not isinstance(body, dict) or body.get("input") is None:
            return self._send(400, error_for(400, "Missing required parameter: 'input'."))
        fake = self.server.fake
        if not body.get("stream"):
            return self._send(200, responses_replies.response(body, fake.script))
        events = responses_replies.stream_events(body, fake.stream_chunks, fake.script)
        cut = fake._take("mid_stream")  # created, in_progress, item, part, `cut` deltas
        self._stream(events, send_only=None if cut is None else 4 + cut)

    def _error(self, status: int, message: str) -> dict[str, Any]:
        """An error body in the shape of the API the request was for."""
        return (anthropic_error if self._anthropic else error_for)(status, message)

    def _wants_usage(self, body: dict[str, Any]) -> bool:
        opts = body.get("stream_options")
        return isinstance(opts, dict) and bool(opts.get("include_usage")) \
            and not self.server.fake._no_usage

    def _stream(self, lines: Iterable[bytes], send_only: int | None = None,
                content_type: str = "text/event-stream; charset=utf-8",
                gap: float | None = None) -> None:
        """Send SSE `lines` as chunks, `gap` seconds apart (default: `stream_delay`);
        `send_only`: close after that many (a FIN, never [DONE]). Counts the stream as
        completed, or aborted when the client leaves."""
        fake = self.server.fake
        gap = fake._stream_delay if gap is None else gap
        self._start_chunked(200, content_type, {"Cache-Control": "no-cache"})
        fake._count(open_streams=1)
        try:
            for i, line in enumerate(lines):
                if send_only is not None and i >= send_only:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # FIN, never [DONE]
                    return
                if i and gap and not self._wait(gap):
                    raise ConnectionResetError("client went away")
                self._write_chunk(line)
            self._write_chunk(b"")  # the terminating zero-length chunk
            fake._count(streams_completed=1)
        except OSError:  # BrokenPipe / ConnectionReset: the client left mid-stream
            self.close_connection = True
            fake._count(streams_aborted=1)
        finally:
            fake._count(open_streams=-1)

    def _start_chunked(self, status: int, content_type: str,
                       headers: dict[str, str] | None = None) -> None:
        """Status and headers of a chunked answer (then `_write_chunk` its pieces)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in {**(headers or {}), **self.server.fake.rate_limits}.items():
            self.send_header(name, value)
        self.end_headers()

    def _embeddings(self, body: Any) -> None:
        inp = body.get("input") if isinstance(body, dict) else None
        if not inp or not isinstance(inp, str | list):
            return self._send(400, error_for(400, "'input' is a required property"))
        self._send(200, embeddings_list(body, self.server.fake.embedding_dim))

    def _read_body(self) -> bytes:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def _wait(self, seconds: float) -> bool:
        """Sleep, but return False as soon as the client closes the connection."""
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as sel:
            sel.register(self.connection, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                try:
                    ready = sel.select(left)
                    if ready and self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return False  # EOF
                except OSError:
                    return False
                if ready:
                    time.sleep(min(left, 0.005))  # unread bytes pending: poll gently
        return True

    def _write_chunk(self, data: bytes) -> None:  # wfile is unbuffered: one write, one send
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
              ctype: str = "text/plain; charset=utf-8") -> None:
        if body is None:
            body = self._error(status, f"Injected failure (HTTP {status})")
        if isinstance(body, dict | list):
            body, ctype = json.dumps(body), "application/json"
        data = body.encode() if isinstance(body, str) else bytes(body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:16])
        if status == 200:
            headers = {**self.server.fake.rate_limits, **(headers or {})}
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class FakeUpstream:
    """The fake server. Thread-safe; the counters are plain ints, readable at any time."""

    def __init__(self, *, models: Sequence[str] = DEFAULT_MODELS, stream_chunks: int = 4,
                 embedding_dim: int = 8, script: Script | None = None) -> None:
        self.models = list(models)
        self.script = script  # what the "model" answers (tests/fakes/script.py); None: echo
        self.stream_chunks = stream_chunks  # content chunks per streamed reply
        self.embedding_dim = embedding_dim
        self.streams_aborted = self.streams_completed = self.open_streams = 0
        self.requests_abandoned = 0
        self.connections_opened = 0  # TCP connections accepted (keep-alive reuses one)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    def start(self) -> FakeUpstream:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        if self._server is None:
            self._server = _Server(("127.0.0.1", 0), _Handler)
            self._server.fake = self
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                            name="fake-upstream", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections (idle keep-alive ones, slow streams)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def fault_url(self, mode: str, arg: float | None = None) -> str:
        """A base URL whose requests get fault `mode` (see tests/fakes/faults.py)."""
        return self.url + faults.fault_path(mode, arg)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def clear(self) -> None:
        """Forget recorded requests; zero the stream and abandon counts."""
        with self._lock:
            self._requests.clear()
            self.streams_aborted = self.streams_completed = self.requests_abandoned = 0

    def wait_until(self, predicate: Callable[[FakeUpstream], bool], timeout: float = 2.0) -> bool:
        """Poll ``predicate(self)`` until it holds (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while not (ok := predicate(self)) and time.monotonic() < deadline:
            time.sleep(0.005)
        return ok

    def fail_next(self, status: int = 500, body: Any = None, *, count: int | None = 1,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next ``count`` requests with ``status``. ``body``: None gives an
        OpenAI error for the status, a dict/list is sent as JSON, str/bytes as they are."""
        self._set_fault("fail", count, (status, body, headers))

    def fail_always(self, status: int = 500, body: Any = None,
                    headers: dict[str, str] | None = None) -> None:
        self.fail_next(status, body, count=None, headers=headers)

    def flap(self, status: int = 500, every: int = 2,
             headers: dict[str, str] | None = None) -> None:
        """Answer one request in every ``every`` with ``status`` (the first among them),
        until reset: a provider failing on and off."""
        self._set_fault("flap", None, [status, every, headers, 0])

    def drop_next(self, count: int | None = 1) -> None:
        """Close the connection without any response, for the next ``count`` requests."""
        self._set_fault("drop", count, True)

    def fail_mid_stream(self, after: int = 2, count: int | None = 1) -> None:
        """Next ``count`` streams: send ``after`` content chunks, then close the socket."""
        self._set_fault("mid_stream", count, after)

    def set_delay(self, seconds: float) -> None:
        """Wait this long before answering any request."""
        self._delay = seconds

    def stream_delay(self, seconds: float) -> None:
        """Wait this long between stream chunks."""
        self._stream_delay = seconds

    def no_usage_in_stream(self, enabled: bool = True) -> None:
        """Ignore ``stream_options.include_usage``: never send the usage chunk."""
        self._no_usage = enabled

    def require_api_key(self, key: str | None) -> None:
        """Demand ``Authorization: Bearer <key>``, else 401 (None: no check)."""
        self._api_key = key

    def reset(self) -> None:
        """Clear every fault and delay and the API-key check; recordings are kept."""
        with self._lock:
            self._faults: dict[str, list[Any]] = {}  # name -> [remaining or None, payload]
        self._delay = self._stream_delay = 0.0
        self._no_usage = False
        self._api_key: str | None = None
        self.rate_limits: dict[str, str] = {}  # headers sent with every 200, as OpenAI's

    def _set_fault(self, name: str, count: int | None, payload: Any) -> None:
        with self._lock:
            if count is not None and count <= 0:
                self._faults.pop(name, None)
            else:
                self._faults[name] = [count, payload]

    def _take(self, name: str) -> Any:
        """Use up one shot of fault ``name``: its payload, or None when it is not armed."""
        with self._lock:
            fault = self._faults.get(name)
            if fault is not None and fault[0] is not None:
                fault[0] -= 1
                if fault[0] <= 0:
                    del self._faults[name]
            return None if fault is None else fault[1]

    def _flap(self) -> tuple[int, None, dict[str, str] | None] | None:
        """The failure for this request if `flap` is armed and it is this one's turn."""
        with self._lock:
            fault = self._faults.get("flap")
            if fault is None:
                return None
            state = fault[1]
            turn, state[3] = state[3], state[3] + 1
            return (state[0], None, state[2]) if turn % state[1] == 0 else None

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)
