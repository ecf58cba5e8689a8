"""Text that can always be encoded: UTF-8 for responses, SQLite and PostgreSQL.

A JSON escape such as `\\ud800` decodes to a lone surrogate, which UTF-8 cannot encode,
and PostgreSQL refuses NUL in text: either, reaching a response or the request log, would
fail the whole write. They are replaced with U+FFFD, the replacement character.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with lone surrogates and NUL replaced by U+FFFD (unchanged when it has none)."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNENCODABLE.sub(REPLACEMENT, text)
