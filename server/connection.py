"""One client connection under gevent's pywsgi: deadlines, framing checks, body reads.

`Handler` reads each request head itself, within a deadline (a half-sent head must not
hold a connection for ever: slow-loris), checks it with `framing.parse_head` and hands
gevent only heads that mean one thing. Bodies are read through `BodyInput`, which gives
the whole body a deadline and turns gevent's read errors into `framing.BodyError`. The
server's stop is seen here too: responses during the grace period say
`Connection: close`, and a request cut off when it ends is answered 503 if it can be.
Imported by server/runner.py after monkey-patching.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import gevent
from gevent import monkey
from gevent.pywsgi import Input, OldMessage, WSGIHandler

from server import framing
from server.errors import error_body
from server.framing import BodyError, FramingError, RequestHead
from server.stopping import STOPPED, ServerStopped

log = logging.getLogger("modelproxy")


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0  # a connection's first request head, from accept
    keepalive_s: float = 30.0  # an idle keep-alive connection, until the next request
    body_timeout_s: float = 60.0  # a whole request body, from its first read
    max_connections: int = 1000


def error_bytes(status: int, message: str, code: str,
                headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP response carrying the error in the API's shape, ending the connection."""
    body = error_body(status, message, code)
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
             "Content-Type: application/json", f"Content-Length: {len(body)}",
             "Connection: close", f"X-Request-ID: req_{uuid.uuid4().hex}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RefusalLog:
    """Log lines about refused requests and connections, at most `burst` per `every_s`
    and then one line saying how many were left out: a flood of bad requests must not
    flood the log (a log written to a full pipe blocks the whole server)."""

    def __init__(self, every_s: float = 10.0, burst: int = 10) -> None:
        self.every_s = every_s
        self.burst = burst
        self._window = -every_s
        self._count = 0
        self._left_out = 0

    def note(self, level: int, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._window >= self.every_s:
            if self._left_out:
                log.warning("... and %d more refusals in %.0f s, not logged one by one",
                            self._left_out, now - self._window)
            self._window, self._count, self._left_out = now, 0, 0
        self._count += 1
        if self._count <= self.burst:
            log.log(level, message, *args)
        else:
            self._left_out += 1


class _HeadTimeout(Exception):
    pass


class _BodyTimeout(Exception):
    pass


def read_head(rfile: Any) -> bytes | None:
    """The bytes of one request head, up to and including its empty line; None if the
    client closed first. FramingError (414, 431) as soon as a size limit is passed."""
    head = b""
    while True:
        line = rfile.readline(framing.MAX_REQUEST_LINE)
        if not line:
            return None
        if not head and line == b"\r\n":
            continue  # an empty line before a request is ignored (RFC 9112 section 2.2)
        if not line.endswith(b"\n"):
            if not head:
                raise FramingError(414, "the request line is longer than "
                                        f"{framing.MAX_REQUEST_LINE} bytes")
            raise FramingError(431, "a header field is longer than "
                                    f"{framing.MAX_REQUEST_LINE} bytes")
        head += line
        if line in (b"\r\n", b"\n"):
            return head
        if len(head) > framing.MAX_HEAD_BYTES:
            raise FramingError(431, f"the request head is larger than "
                                    f"{framing.MAX_HEAD_BYTES} bytes")


class BodyInput(Input):
    """gevent's request body reader with a deadline for the whole body; its failures are
    BodyError. After one, the body is never read again (the connection is closed)."""

    __slots__ = ("broken", "deadline", "timeout_s")

    def __init__(self, wrapped: Input, timeout_s: float) -> None:
        super().__init__(wrapped.rfile, wrapped.content_length, socket=wrapped.socket,
                         chunked_input=wrapped.chunked_input)
        self.timeout_s = timeout_s
        self.deadline: float | None = None
        self.broken = False

    def read(self, length: int | None = None) -> bytes:
        return self._guarded(Input.read, length)

    def readline(self, size: int | None = None) -> bytes:
        return self._guarded(Input.readline, size)

    def _discard(self) -> None:
        """What the application left unread, read away so the next request starts where
        it should; unless the body is broken: then the connection is closed instead."""
        if not self.broken:
            with contextlib.suppress(BodyError):  # broken now: the connection is closed
                super()._discard()

    def _guarded(self, read: Any, size: int | None) -> bytes:
        if self.broken:
            raise BodyError(400, "the request body could not be read", "invalid_body")
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.timeout_s
        try:
            with gevent.Timeout(max(0.0, self.deadline - now), _BodyTimeout):
                return read(self, size)
        except _BodyTimeout:
            raise self._fail(408, f"the request body did not arrive within "
                                  f"{self.timeout_s:g} s", "request_timeout") from None
        except OSError as exc:  # gevent's own errors for bad chunks are OSErrors too
            raise self._fail(*_read_failure(exc)) from None
        except ValueError:  # a chunk size line without a digit
            raise self._fail(400, "the chunked request body is malformed: no chunk size",
                             "invalid_body") from None

    def _fail(self, status: int, message: str, code: str) -> BodyError:
        self.broken = True
        return BodyError(status, message, code)


def _read_failure(exc: OSError) -> tuple[int, str, str]:
    text = " ".join(str(arg) for arg in exc.args[:1])
    if isinstance(exc, ConnectionError) or "EOF" in text or "end of file" in text:
        return 400, "the request body ended before it was complete", "incomplete_body"
    return 400, f"the chunked request body is malformed: {text}", "invalid_body"


REFUSAL_LINGER_S = 1.0
_POLL = monkey.get_original("select", "poll")  # gevent's poll knows no POLLRDHUP
_HUNG_UP = select.POLLRDHUP | select.POLLHUP | select.POLLERR
FIN_WAIT_S = 0.25
FIN_CHECKS = 5


class TLSPeer:
    """The TCP socket under a TLS connection, as client_watch looks at one: it peeks at a
    client's socket for its end (`recv(1, MSG_PEEK) == b""`), which an SSLSocket refuses
    (ValueError), and what arrives under TLS is records, not the end. The end shows in
    TCP instead: the client's FIN (POLLRDHUP), which follows at once the close_notify
    alert a client may send first."""

    def __init__(self, tls_socket: Any) -> None:
        self._fd = tls_socket.fileno()

    def fileno(self) -> int:
        return self._fd

    def recv(self, _size: int, _flags: int = 0) -> bytes:
        """b"" if the client has hung up (its FIN came, now or within FIN_WAIT_S of
        something else arriving), else one byte: "something arrived, still there"."""
        for check in range(FIN_CHECKS):
            if check:
                gevent.sleep(FIN_WAIT_S / FIN_CHECKS)
            poll = _POLL()
            poll.register(self._fd, select.POLLIN | select.POLLRDHUP)
            if any(events & _HUNG_UP for _fd, events in poll.poll(0)):
                return b""
        return b"?"


class Handler(WSGIHandler):
    """Also: TCP_NODELAY (without it keep-alive clients wait ~40 ms per response on
    delayed ACKs); idle keep-alive connections known to the server, which ends them at
    once on stop; access-log lines formatted only when there is an access log (DEBUG)."""

    _head: RequestHead | None = None
    _served = 0  # requests read on this connection

    def handle(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._accepted = time.monotonic()
        if self.server.ssl_enabled and not self._handshake():
            return  # the server closes the socket
        super().handle()

    def _handshake(self) -> bool:
        """The TLS handshake, within the header deadline, which then also holds for the
        first request's head (both count from accept): a client that opens TLS and says
        nothing, or never finishes the handshake, is cut off like a silent one. Plain
        HTTP (a request line where a ClientHello belongs) is told to use https://."""
        limits: ConnectionLimits = self.server.limits
        client = self.client_address[0] if isinstance(self.client_address, tuple) else "-"
        # The TCP socket under the TLS one, to peek at the first byte (SSLSocket cannot)
        # and to answer plain HTTP in plain HTTP.
        with socket.socket(fileno=os.dup(self.socket.fileno())) as tcp:
            try:
                with gevent.Timeout(limits.header_timeout_s, _HeadTimeout):
                    first = tcp.recv(1, socket.MSG_PEEK)
                    if first and first.isalpha():  # GET, POST...: TLS begins with 0x16
                        self._refuse_plain_http(tcp, client)
                        return False
                    if first:
                        self.socket.do_handshake()
                        return True
            except _HeadTimeout:
                self.server.refusals.note(logging.INFO, "the TLS handshake from %s did not "
                                          "finish within %g s", client, limits.header_timeout_s)
            except ssl.SSLError as exc:
                self.server.refusals.note(logging.INFO, "the TLS handshake from %s failed: %s",
                                          client, exc.reason or exc)
            except OSError:
                pass  # reset by the client
        return False

    def _refuse_plain_http(self, tcp: socket.socket, client: str) -> None:
        """A plain-HTTP request to the HTTPS port: a plain answer saying so (a close alone
        leaves a person with curl guessing)."""
        self.server.refusals.note(logging.INFO, "refused a plain-HTTP request from %s to "
                                  "the HTTPS port", client)
        message = ("this port speaks HTTPS: send the request to https:// instead of "
                   "http:// (a request in plain HTTP would show its bearer token)")
        try:
            with gevent.Timeout(REFUSAL_LINGER_S, False):
                tcp.sendall(error_bytes(400, message, "https_required"))
                tcp.shutdown(socket.SHUT_WR)
                while tcp.recv(65536):  # read the rest away: a FIN, not a reset, so
                    pass  # that the answer is not destroyed unread
        except OSError:
            pass

    def log_request(self) -> None:
        if self.server.access_log:  # else not even formatted: ~1% of a request's CPU
            super().log_request()

    # --- the request head ------------------------------------------------------------

    def read_requestline(self) -> str:
        """The request line, once the whole head has arrived in time and been checked;
        "" to end the connection (a refusal has then been sent where one is due)."""
        limits: ConnectionLimits = self.server.limits
        if self.server.closed:  # stopping: a request sent already is answered, no other
            if not self._await_request(self.server.last_call - time.monotonic()):
                return ""
            deadline = time.monotonic() + limits.header_timeout_s
        elif self._served:
            if not self._await_request(limits.keepalive_s):
                return ""
            deadline = time.monotonic() + limits.header_timeout_s
        else:
            deadline = self._accepted + limits.header_timeout_s
            if not self._await_request(deadline - time.monotonic()):
                return ""  # connected and said nothing
            if not self.server.ssl_enabled and self.rfile.peek(1)[:1] == b"\x16":
                # A TLS ClientHello (https:// to this plain port): said at once, in plain
                # HTTP, which a TLS client reports as such, not at the header deadline.
                return self._refuse(400, "this port speaks plain HTTP: send the request to "
                                         "http:// instead of https://", "http_required")
        self._served += 1
        try:
            with gevent.Timeout(max(0.0, deadline - time.monotonic()), _HeadTimeout):
                raw = read_head(self.rfile)
            if raw is None:
                return ""  # closed by the client
            self._head = framing.parse_head(raw)
        except _HeadTimeout:
            return self._refuse(408, f"the request head did not arrive within "
                                     f"{limits.header_timeout_s:g} s", "request_timeout")
        except OSError:
            return ""  # reset by the client
        except FramingError as exc:
            return self._refuse(exc.status, exc.message, _FRAMING_CODES[exc.status])
        head = self._head
        return f"{head.method} {head.target} {head.version}"

    def MessageClass(self, *args: Any) -> OldMessage:
        """The headers gevent reads: the checked, normalised fields of the head."""
        message = OldMessage()
        for name, value in self._head.fields if self._head else ():
            message[name] = value
        return message

    def _await_request(self, wait_s: float) -> bool:
        """Wait up to `wait_s` for the first byte of a request; False if none came. The
        server may end the connection meanwhile (it is idle)."""
        current = gevent.getcurrent()
        self.server.idle.add(current)
        try:
            with gevent.Timeout(max(0.0, wait_s), False):
                return bool(self.rfile.peek(1))
            return False
        except OSError:
            return False
        finally:
            self.server.idle.discard(current)

    def _refuse(self, status: int, message: str, code: str) -> str:
        client = self.client_address[0] if isinstance(self.client_address, tuple) else "-"
        # A head that did not arrive is routine (a slow or idle client); a malformed one
        # is worth a look (a broken client, or someone probing for request smuggling).
        self.server.refusals.note(logging.INFO if status == 408 else logging.WARNING,
                                  "refused a request from %s: %s %s", client, status, message)
        try:
            with gevent.Timeout(2, False):
                self.socket.sendall(error_bytes(status, message, code))
        except OSError:
            pass
        return ""

    # --- the request body and the response -------------------------------------------

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        body = BodyInput(self.wsgi_input, self.server.limits.body_timeout_s)
        if environ["wsgi.input"] is self.wsgi_input:
            environ["wsgi.input"] = body
        self.wsgi_input = body
        # to notice a waiting client leave: under TLS, by its TCP socket (TLSPeer)
        environ["modelproxy.socket"] = (TLSPeer(self.socket) if self.server.ssl_enabled
                                        else self.socket)
        environ["modelproxy.cut_off"] = self.server.cut_off  # the grace period is over
        return environ

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Any:
        # Stopping, or the body's end is unknown: this connection serves no more, and
        # says so, so that a client does not send its next request into a closing socket.
        ending = self.server.closed or getattr(self.wsgi_input, "broken", False)
        if ending and not any(name.lower() == "connection" for name, _ in headers):
            headers = [*headers, ("Connection", "close")]
        return super().start_response(status, headers, exc_info)

    def handle_one_response(self) -> None:
        super().handle_one_response()
        if getattr(self.wsgi_input, "broken", False):
            self.close_connection = True

    def handle_error(self, t: Any, v: Any, tb: Any) -> None:
        if not isinstance(v, ServerStopped):
            return super().handle_error(t, v, tb)
        self.close_connection = True  # cut off by the stop: 503 if nothing was sent yet
        if self.headers_sent or self.response_length:
            return None
        body = error_body(503, STOPPED, "server_stopped")
        try:
            with gevent.Timeout(1, False):
                self.start_response("503 Service Unavailable", [
                    ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("X-Request-ID", f"req_{uuid.uuid4().hex}")])
                self.write(body)
        except OSError:
            pass
        return None


_FRAMING_CODES = {400: "malformed_request", 414: "request_line_too_long",
                  431: "header_fields_too_large", 501: "unsupported_transfer_coding",
                  505: "http_version_not_supported"}
