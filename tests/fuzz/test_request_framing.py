"""Fuzzing the request-head check (server/framing.py): whatever the bytes, it returns a
head with one framing or raises FramingError, and what it lets through reads the same
however it is read again."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from server.framing import FramingError, RequestHead, parse_head

NAMES = ["Host", "Content-Length", "Transfer-Encoding", "content-length", "TRANSFER-ENCODING",
         "X-Request-ID", "Authorization", "Connection", "Expect", "X-A"]
VALUES = ["chunked", "Chunked", " chunked ", "gzip, chunked", "chunked, chunked", "0", "12",
          "12, 12", "12, 13", "+12", "-1", "", "x", "close", "100-continue", "a\tb"]
ODD = ["\r", "\n", "\x00", " ", "\t", ":", ",", "\x7f", "\xff", " :"]


def checked(raw: bytes) -> RequestHead | None:
    try:
        return parse_head(raw)
    except FramingError as exc:
        assert 400 <= exc.status < 600 and exc.message
        return None


def serialised(head: RequestHead) -> bytes:
    lines = [f"{head.method} {head.target} {head.version}",
             *(f"{name}: {value}" for name, value in head.fields)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@given(st.binary(max_size=600))
@example(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
def test_any_bytes_give_a_head_or_a_framing_error(raw: bytes) -> None:
    checked(raw)


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    """Heads made of the fields that frame a request, with odd bytes spliced in."""
    fields = draw(st.lists(st.tuples(st.sampled_from(NAMES),
                                     st.one_of(st.sampled_from(VALUES),
                                               st.text(max_size=12))), max_size=6))
    text = "POST /api/chat HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n"
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(ODD)) + text[at:]
    return text.encode("utf-8")


@given(heads())
def test_what_passes_has_one_framing_and_reads_the_same_again(raw: bytes) -> None:
    head = checked(raw)
    if head is None:
        return
    names = [name.lower() for name, _ in head.fields]
    assert names.count("content-length") <= 1 and names.count("transfer-encoding") <= 1
    assert not (head.chunked and head.content_length is not None)
    assert names.count("host") == 1
    for name, value in head.fields:
        assert not set(value) & {"\r", "\n", "\x00"} and value == value.strip(" \t")
        assert ":" not in name and " " not in name
    assert parse_head(serialised(head)) == head  # normalised once and for all


@given(st.lists(st.sampled_from(["12", "12, 12", "13", " 12"]), min_size=1, max_size=3))
def test_content_lengths_pass_only_when_they_agree(values: list[str]) -> None:
    raw = ("POST / HTTP/1.1\r\nHost: x\r\n"
           + "".join(f"Content-Length: {v}\r\n" for v in values) + "\r\n").encode()
    numbers = {item.strip() for v in values for item in v.split(",")}
    head = checked(raw)
    assert (head is not None) == (len(numbers) == 1)
    if head is not None:
        assert head.content_length == int(numbers.pop())
