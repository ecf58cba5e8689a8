"""Bytes on a raw socket to a real server, and the raw answer back.

For the tests of what an HTTP library would never send: malformed framing, slow or
half-sent requests, clients that leave mid-body. `exchange` sends bytes and reads every
response until the server closes (or goes quiet); `parse_responses` splits what came
back into responses, so a test can see a hidden second response (request smuggling)
as well as a missing one.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RawAnswer:
    """Everything the server sent on one connection."""

    data: bytes
    closed: bool  # the server closed the connection (else it went quiet until the timeout)
    responses: list[RawResponse] = field(default_factory=list)

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.responses]

    @property
    def first(self) -> RawResponse:
        assert self.responses, f"no response; got {self.data[:300]!r}"
        return self.responses[0]


def connect(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_all(sock: socket.socket, quiet_s: float = 2.0, limit: int = 1 << 20) -> RawAnswer:
    """Read until the server closes, or sends nothing for `quiet_s` seconds."""
    sock.settimeout(quiet_s)
    data, closed = b"", False
    while len(data) < limit:
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not piece:
            closed = True
            break
        data += piece
    return RawAnswer(data, closed, parse_responses(data))


def exchange(port: int, data: bytes, quiet_s: float = 2.0, host: str = "127.0.0.1",
             half_close: bool = False) -> RawAnswer:
    """Send `data` on a new connection and read every answer (see `read_all`).
    `half_close` shuts our sending side afterwards, as a client that is done would."""
    with connect(port, host) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_all(sock, quiet_s)


def request(method: str, target: str, headers: dict[str, str] | list[tuple[str, str]],
            body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    """A well-formed request's bytes (the tests then break them on purpose)."""
    pairs = headers.items() if isinstance(headers, dict) else headers
    head = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in pairs)
    return head.encode("latin-1") + b"\r\n" + body


def parse_responses(data: bytes) -> list[RawResponse]:
    """Split a byte stream into HTTP/1.1 responses (Content-Length or chunked bodies);
    a trailing incomplete response is dropped."""
    responses = []
    while data:
        parsed = _parse_one(data)
        if parsed is None:
            break
        response, data = parsed
        responses.append(response)
    return responses


def _parse_one(data: bytes) -> tuple[RawResponse, bytes] | None:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    version_status = lines[0].split(" ", 2)
    if len(version_status) < 2 or not version_status[0].startswith("HTTP/"):
        return None
    status, reason = int(version_status[1]), (version_status[2:] or [""])[0]
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    rest = data[end + 4:]
    names = {k.lower(): v for k, v in headers}
    if "chunked" in names.get("transfer-encoding", "").lower():
        body, rest = _dechunk(rest)
        if body is None:
            return None
    elif "content-length" in names:
        length = int(names["content-length"])
        if len(rest) < length:
            return None
        body, rest = rest[:length], rest[length:]
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:  # delimited by the close
        body, rest = rest, b""
    return RawResponse(status, reason, headers, body), rest


def _dechunk(data: bytes) -> tuple[bytes | None, bytes]:
    body = b""
    while True:
        line_end = data.find(b"\r\n")
        if line_end < 0:
            return None, data
        size = int(data[:line_end].split(b";")[0], 16)
        data = data[line_end + 2:]
        if size == 0:
            trailer_end = data.find(b"\r\n")
            return (body, data[trailer_end + 2:]) if trailer_end >= 0 else (None, data)
        if len(data) < size + 2:
            return None, data
        body, data = body + data[:size], data[size + 2:]


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not (ok := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return bool(ok)
