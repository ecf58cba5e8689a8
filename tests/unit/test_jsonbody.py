"""Request bodies as JSON objects (server/jsonbody.py): too deep or not valid Unicode is a
clear InvalidJSON, never a RecursionError or an encoding error later."""

from __future__ import annotations

import json

import pytest

from server.jsonbody import MAX_DEPTH, InvalidJSON, parse_object


def nested(depth: int, inner: str = "1") -> bytes:
    return ('{"a": ' + "[" * (depth - 1) + inner + "]" * (depth - 1) + "}").encode()


def test_an_object_is_returned() -> None:
    assert parse_object(b'{"messages": [{"role": "user", "content": "hi"}]}')["messages"]


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_far_too_deep_is_invalid_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(InvalidJSON, match="nested more than"):
        parse_object(b"[" * depth + b"]" * depth)


def test_deeper_than_the_limit_is_invalid() -> None:
    assert parse_object(nested(MAX_DEPTH))  # exactly the limit is fine
    for depth in (MAX_DEPTH + 1, 500, 960):  # parsed by Python, refused by us
        with pytest.raises(InvalidJSON, match=f"more than {MAX_DEPTH} levels"):
            parse_object(nested(depth))


def test_many_brackets_side_by_side_are_not_deep() -> None:
    wide = {"items": [[1], {"a": []}] * 500}
    assert parse_object(json.dumps(wide).encode()) == wide


@pytest.mark.parametrize("raw", [
    b'{"messages": "a\\ud800b"}',  # a lone high surrogate, escaped
    b'{"messages": "\\udc00"}',  # a lone low one
    b'{"\\ud83d": 1}',  # in a key
    b'{"m": ["ok", {"deep": "\\ude00\\ud83d"}]}',  # a pair in the wrong order
    b'{"m": "\xed\xa0\x80"}',  # its raw bytes
])
def test_a_lone_surrogate_is_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidJSON, match="lone surrogate"):
        parse_object(raw)


def test_an_escaped_surrogate_pair_is_a_character() -> None:
    raw = json.dumps({"content": "smile \U0001f600"}).encode()  # ensure_ascii: \ud83d\ude00
    assert b"\\ud83d\\ude00" in raw
    assert parse_object(raw)["content"] == "smile \U0001f600"


@pytest.mark.parametrize(("raw", "mentions"), [
    (b"", "empty"), (b"  \n", "empty"), (b"[1]", "object"), (b"null", "object"),
    (b'{"a": ', "not valid JSON"), (b"\xff\xfe", "not valid JSON"), (b"NaN", "object"),
])
def test_other_bad_bodies(raw: bytes, mentions: str) -> None:
    with pytest.raises(InvalidJSON, match=mentions):
        parse_object(raw)
