"""Request framing checked on bytes (server/framing.py): every ambiguity RFC 9112 names is
refused with its status; what passes reaches gevent with one framing only."""

from __future__ import annotations

import pytest

from server.framing import MAX_FIELDS, MAX_HEAD_BYTES, FramingError, parse_head


def head(*lines: str, start: str = "POST /api/chat HTTP/1.1") -> bytes:
    return "".join(f"{line}\r\n" for line in (start, *lines)).encode("latin-1") + b"\r\n"


def refused(raw: bytes) -> FramingError:
    with pytest.raises(FramingError) as caught:
        parse_head(raw)
    return caught.value


def test_a_plain_head_is_read_as_sent() -> None:
    parsed = parse_head(head("Host: proxy:8787", "Content-Length: 12", "X-Request-ID:  abc "))
    assert (parsed.method, parsed.target, parsed.version) == ("POST", "/api/chat", "HTTP/1.1")
    assert parsed.content_length == 12 and not parsed.chunked
    assert ("X-Request-ID", "abc") in parsed.fields  # surrounding spaces are not the value


def test_chunked_alone_is_chunked() -> None:
    parsed = parse_head(head("Host: x", "Transfer-Encoding: Chunked"))
    assert parsed.chunked and parsed.content_length is None
    assert ("Transfer-Encoding", "chunked") in parsed.fields


@pytest.mark.parametrize(("lines", "mentions"), [
    # the four of issue 11 item 18
    (["Host: x", "Content-Length: 5", "Transfer-Encoding: chunked"], "both Content-Length"),
    (["Host: x", "Content-Length: 5", "Content-Length: 6"], "different Content-Length"),
    (["Host: x", "Transfer-Encoding : chunked"], "field name"),
    (["Host: x", "Content-Length: 5, 6"], "different Content-Length"),
    # the rest of RFC 9112's ambiguities
    (["Host: x", "Content-Length: +5"], "number of bytes"),
    (["Host: x", "Content-Length: 0x10"], "number of bytes"),
    (["Host: x", "Content-Length: -1"], "number of bytes"),
    (["Host: x", "Content-Length:"], "number of bytes"),
    (["Host: x", "Transfer-Encoding: chunked, chunked"], "chunked, applied once"),
    (["Host: x", "Transfer-Encoding: chunked, gzip"], "chunked, applied once"),
    (["Host: x", "Transfer-Encoding: identity"], "chunked, applied once"),
    (["Host: x", "Transfer-Encoding:"], "chunked, applied once"),
    (["Host: x", "Transfer-Encoding: chunked", "Content-Length: 5"], "both Content-Length"),
    (["Host: x", "X-Folded: a", " b"], "folding"),
    (["Host: x", "\tX-Folded: a"], "folding"),
    (["Host: x", "X Space: a"], "field name"),
    (["Host: x", ": no name"], "field name"),
    (["Host: x", "no colon"], "field name"),
    (["Host: x", "X-Nul: a\x00b"], "control character"),
    (["Host: x", "X-Esc: \x1b[31m"], "control character"),
    ([], "exactly one Host"),
    (["Host: a", "Host: b"], "exactly one Host"),
])
def test_ambiguous_heads_are_400(lines: list[str], mentions: str) -> None:
    error = refused(head(*lines))
    assert error.status == 400 and mentions in error.message, error.message


@pytest.mark.parametrize("raw", [
    b"GET /api/health HTTP/1.1\nHost: x\n\n",  # bare LF everywhere
    b"GET /api/health HTTP/1.1\r\nHost: x\n\r\n",  # one bare LF
    b"GET /api/health HTTP/1.1\r\nHost: x\rX-Evil: 1\r\n\r\n",  # a bare CR
    b"GET /api/health HTTP/1.1\r\nHost: x\r\n\n",  # the empty line a bare LF
    b"GET /api/health HTTP/1.1\r\nHost: x\r\r\n\r\n",
])
def test_every_line_ends_in_crlf(raw: bytes) -> None:
    error = refused(raw)
    assert error.status == 400 and "bare LF or CR" in error.message


@pytest.mark.parametrize(("start", "status"), [
    ("GET  /api/health HTTP/1.1", 400),
    ("GET /api/health", 400),
    ("GET /api/ health HTTP/1.1", 400),
    ("GET /api/health http/1.1", 400),
    ("G(T /api/health HTTP/1.1", 400),
    ("GET /api/health HTTP/2.0", 505),
    ("GET /api/health HTTP/0.9", 505),
    ("GET /" + "a" * 8200 + " HTTP/1.1", 414),
])
def test_a_malformed_request_line_is_refused(start: str, status: int) -> None:
    assert refused(head("Host: x", start=start)).status == status


def test_an_unsupported_transfer_coding_is_501() -> None:
    error = refused(head("Host: x", "Transfer-Encoding: gzip, chunked"))
    assert error.status == 501 and "gzip" in error.message


def test_transfer_encoding_in_http_1_0_is_400() -> None:
    error = refused(head("Transfer-Encoding: chunked", start="POST / HTTP/1.0"))
    assert error.status == 400 and "HTTP/1.0" in error.message


def test_http_1_0_needs_no_host() -> None:
    assert parse_head(head(start="GET /api/health HTTP/1.0")).version == "HTTP/1.0"


def test_repeated_equal_content_lengths_become_one() -> None:
    parsed = parse_head(head("Host: x", "Content-Length: 7", "content-length: 7, 7"))
    assert parsed.content_length == 7
    assert [v for n, v in parsed.fields if n.lower() == "content-length"] == ["7"]


def test_sizes_are_bounded() -> None:
    fields = [f"X-{i}: 1" for i in range(MAX_FIELDS + 1)]
    assert refused(head("Host: x", *fields)).status == 431
    assert refused(head("Host: x", "X-Big: " + "a" * MAX_HEAD_BYTES)).status == 431


def test_obs_text_in_a_value_is_kept() -> None:
    parsed = parse_head(b"GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\n\r\n")
    assert ("X-Name", "caf\xe9") in parsed.fields
