"""Bytes no HTTP library would send, on raw sockets to a real `modelproxy serve`: request
framing that could smuggle a request past a reverse proxy (RFC 9112), malformed chunked
bodies, clients leaving mid-body, hostile headers, bodies too deep or not valid Unicode.
Each is a clear 4xx in the API's error shape, framing errors close the connection, and
nothing leaves a traceback."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests import rawhttp
from tests.server.client_fixtures import Appliance, MainGateway, wait_for

CHAT = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()


def port(gateway: MainGateway) -> int:
    return gateway.appliance.live.port


def chat_head(gateway: MainGateway, *fields: str, path: str = "/api/echo/chat",
              request_id: str | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: proxy",
             f"Authorization: Bearer {gateway.tokens['all'].plaintext}"]
    if request_id:
        lines.append(f"X-Request-ID: {request_id}")
    return ("\r\n".join([*lines, *fields]) + "\r\n\r\n").encode()


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def assert_refused(answer: rawhttp.RawAnswer, status: int, mentions: str) -> None:
    """One error response in the API's shape, then the connection closed."""
    assert answer.statuses == [status], answer.data[:500]
    response = answer.first
    error = response.json()["error"]
    assert mentions.lower() in error["message"].lower(), error
    assert {"message", "type", "code"} <= set(error)
    assert response.header("Connection") == "close" and response.header("X-Request-ID")
    assert answer.closed


def assert_no_row(gateway: MainGateway, request_id: str) -> None:
    """No row for `request_id`: a request sent after it has its row, and rows are written
    in order."""
    marker = gateway.post("/api/echo/chat", {"messages": [{"role": "user", "content": "m"}]})
    gateway.log_row(marker)
    assert not [r for r in gateway.appliance.log_rows() if r["request_id"] == request_id]


# --- request framing (issue 11, item 18) ---------------------------------------------------


def test_content_length_with_transfer_encoding_runs_no_hidden_request(gateway) -> None:
    hidden_id = "smuggled-" + uuid.uuid4().hex
    hidden = chat_head(gateway, f"Content-Length: {len(CHAT)}", request_id=hidden_id) + CHAT
    body = chunked(CHAT) + hidden  # a proxy reading Content-Length sends all of it as one
    data = chat_head(gateway, f"Content-Length: {len(body)}",
                     "Transfer-Encoding: chunked") + body
    assert_refused(rawhttp.exchange(port(gateway), data), 400, "both Content-Length")
    assert_no_row(gateway, hidden_id)


def test_two_different_content_lengths_are_400(gateway) -> None:
    data = chat_head(gateway, f"Content-Length: {len(CHAT)}", "Content-Length: 2") + CHAT
    assert_refused(rawhttp.exchange(port(gateway), data), 400, "different Content-Length")


def test_transfer_encoding_with_a_space_before_the_colon_is_400(gateway) -> None:
    data = chat_head(gateway, "Transfer-Encoding : chunked") + chunked(CHAT)
    assert_refused(rawhttp.exchange(port(gateway), data), 400, "field name")


@pytest.mark.parametrize("data", [
    b"GET /api/health HTTP/1.1\nHost: proxy\n\n",
    b"GET /api/health HTTP/1.1\r\nHost: proxy\rX-Hidden: 1\r\n\r\n",
    b"GET /api/health HTTP/1.1\r\nHost: proxy\n\r\n",
], ids=["bare-LF", "bare-CR", "one-bare-LF"])
def test_header_lines_end_only_in_crlf(gateway, data: bytes) -> None:
    assert_refused(rawhttp.exchange(port(gateway), data), 400, "bare LF or CR")


@pytest.mark.parametrize(("fields", "status", "mentions"), [
    (["Transfer-Encoding: chunked, chunked"], 400, "chunked"),
    (["Transfer-Encoding: gzip, chunked"], 501, "gzip"),
    (["Transfer-Encoding: chunked", "Transfer-Encoding: identity"], 400, "chunked"),
    (["Content-Length: +49"], 400, "number of bytes"),
    (["X-Folded: a", " folded"], 400, "folding"),
    (["X-Nul: a\x00b"], 400, "control character"),
    (["Host: second"], 400, "exactly one Host"),
])
def test_other_ambiguous_framing_is_refused(gateway, fields, status, mentions) -> None:
    data = chat_head(gateway, *fields) + chunked(CHAT)
    assert_refused(rawhttp.exchange(port(gateway), data), status, mentions)


def test_a_well_formed_pipelined_pair_is_still_answered_twice(gateway) -> None:
    one = chat_head(gateway, f"Content-Length: {len(CHAT)}") + CHAT
    two = chat_head(gateway, "Transfer-Encoding: chunked") + chunked(CHAT[:10], CHAT[10:])
    answer = rawhttp.exchange(port(gateway), one + two, quiet_s=1.0)
    assert answer.statuses == [200, 200], answer.data[:500]
    assert not answer.closed  # keep-alive as before


# --- hostile headers -------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "status"), [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-%d: %s\r\n" % (i, b"a" * 8000) for i in range(9)) + b"\r\n", 431),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n", 431),
    (b"GET /api/health HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    (b"GET /api/health\r\nHost: x\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS to a plain port
])
def test_oversized_and_garbled_heads_are_refused(gateway, data: bytes, status: int) -> None:
    answer = rawhttp.exchange(port(gateway), data)
    assert answer.statuses == [status], answer.data[:300]
    assert answer.closed
    error = answer.first.json()["error"]  # the API's shape, its type from server/errors.py
    assert error["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    assert error["code"] and error["message"]


def test_a_hostile_request_id_is_replaced(gateway) -> None:
    data = chat_head(gateway, f"Content-Length: {len(CHAT)}",
                     "X-Request-ID: ../../etc/passwd <script>" + "x" * 200) + CHAT
    answer = rawhttp.exchange(port(gateway), data, quiet_s=1.0)
    assert answer.statuses == [200]
    assert answer.first.header("X-Request-ID").startswith("req_")


# --- bodies (issue 11, item 13) --------------------------------------------------------------


@pytest.mark.parametrize("size_line", [b"zz", b"-1", b"1" * 20, b"5 ; x\x00", b"\r", b""])
def test_a_bad_chunk_size_is_400_with_one_row(gateway, size_line: bytes) -> None:
    request_id = "badchunk-" + uuid.uuid4().hex
    data = (chat_head(gateway, "Transfer-Encoding: chunked", request_id=request_id)
            + size_line + b"\r\n" + CHAT + b"\r\n0\r\n\r\n")
    answer = rawhttp.exchange(port(gateway), data)
    assert answer.statuses == [400], answer.data[:300]
    error = answer.first.json()["error"]
    assert error["code"] in {"invalid_body", "incomplete_body"}, error
    assert answer.closed and answer.first.header("Connection") == "close"
    row = gateway.appliance.log_row(request_id)
    assert row["status"] == 400 and ("chunked" in row["error"] or "ended" in row["error"])


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_client_leaving_mid_body_leaves_one_row_and_no_traceback(gateway, framing) -> None:
    request_id = "midbody-" + uuid.uuid4().hex
    if framing == "chunked":
        data = chat_head(gateway, "Transfer-Encoding: chunked", request_id=request_id) \
            + b"%x\r\n" % len(CHAT) + CHAT[:5]
    else:
        data = chat_head(gateway, f"Content-Length: {len(CHAT)}", request_id=request_id) \
            + CHAT[:5]
    with rawhttp.connect(port(gateway)) as sock:
        sock.sendall(data)
        time.sleep(0.2)  # the server is reading the body
    row = gateway.appliance.log_row(request_id)
    assert row["status"] == 400 and "ended before it was complete" in row["error"]
    assert gateway.fake.requests == []


@pytest.mark.parametrize("path", ["/api/echo/chat", "/api/chat", "/v1/chat/completions"])
def test_10k_deep_json_on_the_client_api_is_400(gateway, path: str) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    response = gateway.post(path, None, data=deep)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"
    assert "nested more than" in response.json()["error"]["message"]
    assert gateway.log_row(response)["status"] == 400


def test_960_deep_json_that_python_parses_is_400_too(gateway) -> None:
    body = b'{"messages": [{"role": "user", "content": "x", "extra": ' \
        + b"[" * 960 + b"]" * 960 + b"}]}"
    response = gateway.post("/api/chat", None, data=body)
    assert response.status_code == 400, response.text
    assert gateway.fake.requests == []


@pytest.mark.parametrize("path", ["/admin/api/login", "/admin/api/setup"])
def test_10k_deep_json_on_the_public_admin_api_is_400(gateway, path: str) -> None:
    deep = b'{"username": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = gateway.post(path, None, data=deep, token="all")
    assert response.status_code == 400, response.text
    assert "nested more than" in response.json()["error"]["message"]


@pytest.mark.parametrize(("path", "body"), [
    ("/api/echo/chat", b'{"messages": [{"role": "user", "content": "half \\ud83d"}]}'),
    ("/api/echo/chat", b'{"messages": [{"role": "user", "content": "raw \xed\xa0\x80"}]}'),
    ("/api/echo/embed", b'{"input": "\\udc00"}'),
    ("/api/echo/chat", b'{"endpoint": "/api/\\ud800", "messages": []}'),
])
def test_a_lone_surrogate_is_400_not_500(gateway, path: str, body: bytes) -> None:
    response = gateway.post(path, None, data=body)
    assert response.status_code == 400, response.text
    assert "lone surrogate" in response.json()["error"]["message"]
    assert gateway.log_row(response)["status"] == 400


def test_a_lone_surrogate_on_the_admin_api_is_400(gateway) -> None:
    response = gateway.post("/admin/api/login", None,
                            data=b'{"username": "\\ud800", "password": "x"}')
    assert response.status_code == 400 and "lone surrogate" in response.text


def test_an_emoji_sent_as_a_surrogate_pair_is_echoed(gateway) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "smile \U0001f600"}]})
    response = gateway.post("/api/echo/chat", None, data=body.encode())
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: smile \U0001f600"


def test_bad_input_leaves_no_traceback_in_the_server_log(tmp_path) -> None:
    """The same bad input against a server of its own, whose whole output is read after."""
    app = Appliance(tmp_path / "data")
    try:
        app.provider("echo", type="echo")
        app.endpoint("chat", "/api/chat", "echo", model="echo-model")
        token = app.token("t").plaintext
        live = app.serve()
        auth = f"Authorization: Bearer {token}\r\n".encode()
        head = b"POST /api/chat HTTP/1.1\r\nHost: x\r\n" + auth
        deep = b"[" * 10_000 + b"]" * 10_000
        for data in [
            head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + CHAT + b"\r\n0\r\n\r\n",
            head + b"Content-Length: %d\r\n\r\n" % len(deep) + deep,
            b"POST /admin/api/login HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % len(deep) + deep,
            b"POST /admin/api/setup HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % len(deep) + deep,
            head + b'Content-Length: 26\r\n\r\n{"input": "\\ud800", "x":1}',
            head + b"Content-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ]:
            assert rawhttp.exchange(live.port, data, quiet_s=1.0).first.status in (400, 404)
        with rawhttp.connect(live.port) as sock:  # a client leaving mid-body
            sock.sendall(head + b"Content-Length: 1000\r\n\r\n" + CHAT[:10])
            time.sleep(0.2)
        assert wait_for(lambda: len(app.log_rows()) == 4, timeout=5)  # the client API's
        assert live.stop() == 0
        assert "Traceback" not in live.output and " ERROR " not in live.output, live.output
        assert {r["status"] for r in app.log_rows()} == {400}
    finally:
        app.close()
