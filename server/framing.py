"""Request framing by RFC 9112, checked on the bytes of a request head.

gevent's HTTP parser is lenient where leniency lets a request be smuggled past a reverse
proxy that reads the same bytes differently: it runs a request hidden in a body that has
both Content-Length and Transfer-Encoding, takes the first of two different
Content-Lengths, honours `Transfer-Encoding :` and ends header lines at a bare LF or CR.
`parse_head` refuses all of these (and the other ambiguities RFC 9112 names) before
gevent sees the head, and gives gevent a normalised one: at most one Content-Length, and
Transfer-Encoding only as a lone `chunked`. Sans-IO: bytes in, a RequestHead or a
FramingError out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REQUEST_LINE = 8192  # as gevent's pywsgi
MAX_HEAD_BYTES = 64 * 1024  # request line and every field line
MAX_FIELDS = 100  # as http.client

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/(\d)\.(\d)")
_FIELD_NAME = re.compile(_TOKEN)
# name ":" value, where a value holds visible characters, obs-text, spaces and tabs, and
# nothing else (RFC 9110 section 5.5).
_FIELD_LINE = re.compile(rb"(" + _TOKEN + rb"):([\t\x20-\x7e\x80-\xff]*)")
_DIGITS = re.compile(r"[0-9]+")


class FramingError(ValueError):
    """A request head that cannot be read one way only; answered with `status`, then the
    connection is closed (the next request's start is unknown)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    version: str  # "HTTP/1.0" or "HTTP/1.1"
    fields: list[tuple[str, str]]  # names as sent, values without surrounding spaces
    content_length: int | None
    chunked: bool


def parse_head(head: bytes) -> RequestHead:
    """The request line and field lines of `head` (everything up to and including the
    empty line that ends it), checked and normalised; FramingError if it is ambiguous
    or malformed."""
    if len(head) > MAX_HEAD_BYTES:
        raise FramingError(431, f"the request head is larger than {MAX_HEAD_BYTES} bytes")
    # Every line ends in CRLF: a bare CR or LF is a line end to some parsers and not to
    # others (RFC 9112 section 2.2).
    if not head.count(b"\r") == head.count(b"\n") == head.count(b"\r\n"):
        raise FramingError(400, "a line of the request head ends in a bare LF or CR; "
                                "lines end in CRLF")
    if not head.endswith(b"\r\n\r\n"):
        raise FramingError(400, "the request head must end with an empty line (CRLF CRLF)")
    lines = head[:-4].split(b"\r\n")
    method, target, version = _request_line(lines[0])
    if len(lines) - 1 > MAX_FIELDS:
        raise FramingError(431, f"the request has more than {MAX_FIELDS} header fields")
    fields = [_field(line) for line in lines[1:]]
    return _framed(method, target, version, fields)


def _request_line(line: bytes) -> tuple[str, str, str]:
    if len(line) >= MAX_REQUEST_LINE:
        raise FramingError(414, f"the request line is longer than {MAX_REQUEST_LINE} bytes")
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise FramingError(400, "the request line must be METHOD SP TARGET SP HTTP/1.x")
    method, target, major, minor = (part.decode("ascii") for part in match.groups())
    if (major, minor) not in {("1", "0"), ("1", "1")}:
        raise FramingError(505, f"HTTP/{major}.{minor} is not supported; use HTTP/1.1")
    return method, target, f"HTTP/{major}.{minor}"


def _field(line: bytes) -> tuple[str, str]:
    match = _FIELD_LINE.fullmatch(line)
    if match is not None:  # the common case, in one match
        return match[1].decode("ascii"), match[2].strip(b" \t").decode("latin-1")
    if line[:1] in (b" ", b"\t"):
        raise FramingError(400, "obsolete line folding in the request head")
    name, colon, _ = line.partition(b":")
    if not colon or not _FIELD_NAME.fullmatch(name):
        # Includes `Transfer-Encoding : chunked`: no space may come before the colon
        # (RFC 9112 section 5.1), as proxies disagree on what it names.
        raise FramingError(400, f"malformed header field name {_shown(name)}")
    raise FramingError(400, f"a control character in the value of {_shown(name)}")


def _framed(method: str, target: str, version: str,
            fields: list[tuple[str, str]]) -> RequestHead:
    lengths, codings, hosts, kept = [], [], [], []
    for name, value in fields:
        lower = name.lower()
        if lower == "content-length":
            lengths.append(value)
        elif lower == "transfer-encoding":
            codings.append(value)
        else:
            if lower == "host":
                hosts.append(value)
            kept.append((name, value))
    if len(hosts) > 1 or (version == "HTTP/1.1" and not hosts):
        raise FramingError(400, "an HTTP/1.1 request has exactly one Host header")
    content_length = _content_length(lengths) if lengths else None
    chunked = _chunked(codings, version, content_length) if codings else False
    if content_length is not None:
        kept.append(("Content-Length", str(content_length)))
    if chunked:
        kept.append(("Transfer-Encoding", "chunked"))
    return RequestHead(method, target, version, kept, content_length, chunked)


def _content_length(values: list[str]) -> int:
    items = {item.strip() for value in values for item in value.split(",")}
    if len(items) != 1:
        raise FramingError(400, "the request has different Content-Length values")
    (item,) = items
    if not _DIGITS.fullmatch(item):
        raise FramingError(400, f"Content-Length must be a number of bytes, not {item!r:.40}")
    return int(item)


def _chunked(values: list[str], version: str, content_length: int | None) -> bool:
    if version == "HTTP/1.0":
        raise FramingError(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request")
    if content_length is not None:
        # A body framed both ways is how requests are smuggled (RFC 9112 section 6.1).
        raise FramingError(400, "the request has both Content-Length and Transfer-Encoding")
    codings = [c.strip().lower() for value in values for c in value.split(",") if c.strip()]
    if not codings or codings[-1] != "chunked" or codings.count("chunked") > 1:
        raise FramingError(400, "Transfer-Encoding must end in chunked, applied once")
    if len(codings) > 1:
        raise FramingError(501, f"the transfer coding {codings[0]!r:.40} is not supported; "
                                "send the body chunked or with a Content-Length")
    return True


def _shown(name: bytes) -> str:
    return repr(name.decode("latin-1"))[:60]


class BodyError(Exception):
    """A request body that could not be read whole: malformed chunks (400), cut short
    (400), or too slow (408). Raised by the server's body reader, not an OSError, so
    Werkzeug passes it on instead of turning it into a bare "client disconnected"."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
