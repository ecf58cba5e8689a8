"""app.text.encodable on any text: the result always encodes as UTF-8 and holds no NUL (so
SQLite, PostgreSQL and a JSON response take it), only the unencodable characters change,
and text with none of them is returned as it is."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.text import REPLACEMENT, encodable

# Any code point, lone surrogates and NUL included (the default alphabet leaves them out).
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()))


@given(ANY_TEXT)
def test_the_result_can_always_be_stored(text: str) -> None:
    clean = encodable(text)
    clean.encode("utf-8")  # raises on a lone surrogate
    assert "\x00" not in clean and len(clean) == len(text)
    for before, after in zip(text, clean, strict=True):
        bad = before == "\x00" or 0xD800 <= ord(before) <= 0xDFFF
        assert after == (REPLACEMENT if bad else before)


@given(st.text())  # hypothesis's default text: no surrogates
def test_storable_text_is_unchanged(text: str) -> None:
    if "\x00" not in text:
        assert encodable(text) == text
