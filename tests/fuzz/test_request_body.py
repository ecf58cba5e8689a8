"""Fuzzing the body reader and JSON body parsing: a chunked body of any bytes is read or
refused with BodyError (never another exception, never a hang), a well-formed one reads
back exactly; and JSON bodies parse to an object the server can encode again, or are
InvalidJSON."""

from __future__ import annotations

import contextlib
import io
import json

from gevent.pywsgi import Input
from hypothesis import example, given
from hypothesis import strategies as st

from server.connection import BodyInput
from server.framing import BodyError
from server.jsonbody import MAX_DEPTH, InvalidJSON, parse_object


def body_input(data: bytes, chunked: bool = True) -> BodyInput:
    rfile = io.BufferedReader(io.BytesIO(data))
    wrapped = Input(rfile, None if chunked else len(data) + 5, chunked_input=chunked)
    return BodyInput(wrapped, timeout_s=5)


def chunk(pieces: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"


# Bytes a chunked body is made of, so that the draws often look almost like one.
CHUNKY = st.lists(st.sampled_from([b"0", b"1", b"a", b"F", b"\r", b"\n", b"\r\n", b";",
                                   b"=", b" ", b"z", b"x" * 17]), max_size=40).map(b"".join)


@given(st.one_of(st.binary(max_size=300), CHUNKY), st.booleans())
@example(b"\r\n\r\n", True)
def test_any_body_bytes_read_or_raise_body_error(data: bytes, chunked: bool) -> None:
    body = body_input(data, chunked)
    try:
        read = body.read()
    except BodyError as exc:
        assert exc.status in (400, 408) and exc.code and body.broken
    else:
        assert len(read) <= len(data)


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=8), st.integers(1, 64))
def test_a_well_formed_chunked_body_reads_back_whole(pieces: list[bytes], size: int) -> None:
    body = body_input(chunk(pieces))
    read = b""
    while piece := body.read(size):
        read += piece
    assert read == b"".join(pieces)


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=4),
       st.integers(0, 200), st.binary(max_size=4))
def test_a_cut_or_corrupted_chunked_body_is_a_body_error(pieces, at, junk) -> None:
    whole = chunk(pieces)
    at = min(at, len(whole) - 1)
    body = body_input(whole[:at] + junk)
    with contextlib.suppress(BodyError):  # and nothing else
        body.read()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30)


@given(st.binary(max_size=300))
def test_any_bytes_parse_to_an_object_or_invalid_json(raw: bytes) -> None:
    try:
        body = parse_object(raw)
    except InvalidJSON as exc:
        assert str(exc)
    else:
        assert isinstance(body, dict)
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # never a lone surrogate


@given(st.dictionaries(st.text(), JSON, max_size=5), st.booleans())
def test_json_objects_come_back_as_sent_and_encodable(value: dict, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        body = parse_object(raw)
    except InvalidJSON as exc:
        assert "lone surrogate" in str(exc)  # st.text() may draw one
        return
    assert body == value
    json.dumps(body, ensure_ascii=False).encode("utf-8")


@given(st.integers(1, 3 * MAX_DEPTH), st.sampled_from(["[", '{"a":']))
def test_nesting_is_refused_exactly_past_the_limit(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    raw = ('{"x":' + opener * (depth - 1) + "1" + closer * (depth - 1) + "}").encode()
    try:
        parse_object(raw)
    except InvalidJSON as exc:
        assert "nested" in str(exc) and depth > MAX_DEPTH
    else:
        assert depth <= MAX_DEPTH
