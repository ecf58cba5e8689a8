"""Slow and idle clients (issue 11, item 8): a request head or body that does not arrive
in time is answered 408 and its connection closed, idle keep-alive connections are
closed, connections past the cap get a clear 503, and the server raises its open-file
limit; so a few hundred half-open connections no longer stop it answering."""

from __future__ import annotations

import json
import resource
import shutil
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests import rawhttp
from tests.server.client_fixtures import Appliance, IssuedToken

TIMEOUT_S = 1  # MODELPROXY_HEADER_TIMEOUT_S, _BODY_TIMEOUT_S and _KEEPALIVE_S here
CAP = 8  # MODELPROXY_MAX_CONNECTIONS here
CHAT = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()


class Slow:
    def __init__(self, app: Appliance, token: IssuedToken) -> None:
        self.app, self.token = app, token

    @property
    def port(self) -> int:
        return self.app.live.port

    def head(self, *fields: str, request_id: str = "") -> bytes:
        lines = ["POST /api/chat HTTP/1.1", "Host: proxy",
                 f"Authorization: Bearer {self.token.plaintext}",
                 f"X-Request-ID: {request_id or 'slow-' + uuid.uuid4().hex}", *fields]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slow]:
    app = Appliance(tmp_path_factory.mktemp("slow") / "data")
    try:
        app.provider("echo", type="echo")
        app.endpoint("chat", "/api/chat", "echo", model="echo-model")
        token = app.token("slow")
        app.serve(MODELPROXY_HEADER_TIMEOUT_S=str(TIMEOUT_S),
                  MODELPROXY_BODY_TIMEOUT_S=str(TIMEOUT_S),
                  MODELPROXY_KEEPALIVE_S=str(TIMEOUT_S),
                  MODELPROXY_MAX_CONNECTIONS=str(CAP))
        yield Slow(app, token)
    finally:
        app.close()


def test_a_head_that_never_ends_is_408_and_closed(slow: Slow) -> None:
    with rawhttp.connect(slow.port) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: proxy\r\n")  # no empty line
        answer = rawhttp.read_all(sock, quiet_s=TIMEOUT_S + 5)
    assert answer.statuses == [408] and answer.closed
    error = answer.first.json()["error"]
    assert error["code"] == "request_timeout" and "did not arrive" in error["message"]


def test_a_head_dripped_a_byte_at_a_time_is_cut_at_the_deadline(slow: Slow) -> None:
    """Each byte comes well within any idle timeout; the whole head still has one deadline."""
    data = b"GET /api/health HTTP/1.1\r\nHost: proxy\r\nX-Drip: " + b"a" * 100  # 10 s
    with rawhttp.connect(slow.port) as sock:
        sent = _drip(sock, [bytes([b]) for b in data])
        answer = rawhttp.read_all(sock, quiet_s=5)
    assert answer.statuses == [408] and answer.closed
    assert sent < len(data)  # answered before the drip was over


def _drip(sock: socket.socket, pieces: list[bytes], every_s: float = 0.1) -> int:
    """Send the pieces one by one until the server answers or closes; how many went."""
    for sent, piece in enumerate(pieces):
        try:
            sock.sendall(piece)
        except OSError:
            return sent
        time.sleep(every_s)
        if _readable(sock):
            return sent + 1
    return len(pieces)


def _readable(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) is not None
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def test_a_connection_that_says_nothing_is_closed_without_a_word(slow: Slow) -> None:
    with rawhttp.connect(slow.port) as sock:
        answer = rawhttp.read_all(sock, quiet_s=TIMEOUT_S + 5)
    assert answer.closed and answer.data == b""


def test_an_idle_keep_alive_connection_is_closed(slow: Slow) -> None:
    data = slow.head(f"Content-Length: {len(CHAT)}") + CHAT
    with rawhttp.connect(slow.port) as sock:
        sock.sendall(data)
        answer = rawhttp.read_all(sock, quiet_s=TIMEOUT_S + 5)
    assert answer.statuses == [200]  # answered, kept open, then closed when idle
    assert answer.closed


def test_a_body_that_stops_coming_is_408_with_one_row(slow: Slow) -> None:
    request_id = "slowbody-" + uuid.uuid4().hex
    with rawhttp.connect(slow.port) as sock:
        sock.sendall(slow.head(f"Content-Length: {len(CHAT)}", request_id=request_id)
                     + CHAT[:5])
        answer = rawhttp.read_all(sock, quiet_s=TIMEOUT_S + 5)
    assert answer.statuses == [408] and answer.closed
    assert answer.first.json()["error"]["code"] == "request_timeout"
    assert answer.first.header("Connection") == "close"
    row = slow.app.log_row(request_id)
    assert row["status"] == 408 and "did not arrive" in row["error"]


@pytest.mark.parametrize("path", ["/admin/api/login", "/admin/api/setup"])
def test_an_admin_api_body_that_stops_coming_is_408_too(slow: Slow, path: str) -> None:
    """The admin API's JSON bodies keep the reader's 408 (they were turned into a 400)."""
    body = json.dumps({"username": "root", "password": "whatever-1"}).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with rawhttp.connect(slow.port) as sock:
        sock.sendall(head + body[:5])
        answer = rawhttp.read_all(sock, quiet_s=TIMEOUT_S + 5)
    assert answer.statuses == [408] and answer.closed, answer.data[:300]
    assert answer.first.json()["error"]["code"] == "request_timeout"


def test_a_chunked_body_dripped_slowly_is_cut_at_the_deadline(slow: Slow) -> None:
    request_id = "drip-" + uuid.uuid4().hex
    pieces = [b"1\r\n \r\n"] * 50  # 5 s of one-byte chunks, each within any idle timeout
    with rawhttp.connect(slow.port) as sock:
        sock.sendall(slow.head("Transfer-Encoding: chunked", request_id=request_id))
        sent = _drip(sock, pieces)
        answer = rawhttp.read_all(sock, quiet_s=5)
    assert answer.statuses == [408] and sent < len(pieces)
    assert slow.app.log_row(request_id)["status"] == 408


def test_connections_past_the_cap_get_a_clear_503(slow: Slow) -> None:
    held = [rawhttp.connect(slow.port) for _ in range(CAP)]
    try:
        for sock in held:  # each holds a connection with a half-sent head
            sock.sendall(b"GET /api/health HTTP/1.1\r\n")
        time.sleep(0.2)
        refused = requests.get(slow.app.url + "/api/health", timeout=5)
        assert refused.status_code == 503
        assert refused.headers["Connection"] == "close" and refused.headers["Retry-After"]
        error = refused.json()["error"]
        assert error["code"] == "too_many_connections" and f"limit of {CAP}" in error["message"]
    finally:
        for sock in held:
            sock.close()
    assert rawhttp.wait_until(lambda: _health(slow.app.url) == 200, timeout=10)


def test_half_open_connections_are_freed_by_the_deadline(slow: Slow) -> None:
    held = [rawhttp.connect(slow.port) for _ in range(CAP)]
    for sock in held:
        sock.sendall(b"GET /api/health HTTP/1.1\r\n")  # and never closed by us
    try:
        assert rawhttp.wait_until(lambda: _health(slow.app.url) == 200, timeout=TIMEOUT_S + 5)
    finally:
        for sock in held:
            sock.close()


def _health(url: str) -> int | str:
    try:
        return requests.get(url + "/api/health", timeout=5).status_code
    except requests.RequestException as exc:
        return type(exc).__name__


# --- the open-file limit -----------------------------------------------------------------------


needs_prlimit = pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit")
HALF_OPEN = 1100  # past the ~1,014 that stopped a server at 1,024 files


@needs_prlimit
def test_the_soft_open_file_limit_is_raised_to_the_hard_one(tmp_path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip("the hard open-file limit here is below 4096")
    app = Appliance(tmp_path / "data")
    try:
        live = app.serve(wrap=["prlimit", "--nofile=1024:4096", "--"])
        assert _health(live.url) == 200
        assert live.stop() == 0
        assert "open-file limit raised from 1024 to 4096" in live.output
        assert "up to 1998 client connections" in live.output
    finally:
        app.close()


@needs_prlimit
def test_at_1024_files_1100_half_open_connections_do_not_silence_the_server(tmp_path) -> None:
    """Under `ulimit -n 1024` (soft and hard), half-open connections once stopped the
    server answering anyone at ~1,014. Now every health check gets an answer: 200, or the
    503 refusal while the cap is full; and 200 again once the deadline frees them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < HALF_OPEN + 200:
        pytest.skip("this process may not open enough sockets")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, HALF_OPEN + 200), hard))
    app = Appliance(tmp_path / "data")
    held: list[socket.socket] = []
    try:
        live = app.serve(wrap=["prlimit", "--nofile=1024:1024", "--"],
                         MODELPROXY_HEADER_TIMEOUT_S="3")
        answers = set()
        while len(held) < HALF_OPEN:
            sock = rawhttp.connect(live.port)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
            if len(held) % 100 == 0:
                answers.add(_health(live.url))
        assert answers <= {200, 503}, answers  # never a timeout or a reset
        assert 503 in answers  # the cap (462 at 1,024 files) was reached
        assert rawhttp.wait_until(lambda: _health(live.url) == 200, timeout=15)
        assert live.stop() == 0
        assert "up to 462 client connections (open-file limit 1024)" in live.output
        assert "Too many open files" not in live.output
    finally:
        for sock in held:
            sock.close()
        app.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
