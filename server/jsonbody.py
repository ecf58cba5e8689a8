"""A request body as a JSON object, for both APIs; sans-IO (bytes in, a dict or
InvalidJSON out).

Besides malformed JSON it refuses what Python's parser accepts but the rest of the
server cannot use: nesting past MAX_DEPTH (10,000 levels raise RecursionError in the
parser; a few hundred parse, then fail where the body is encoded again on a deeper
stack), and strings holding a lone surrogate (`"\\ud800"`), which no UTF-8 encoder —
the upstream request, the response, the log row — can write.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 128  # levels of objects and arrays; real bodies (JSON schemas, tools) use <20

# Where a lone surrogate can come from: a \uD800-\uDFFF escape, or its raw bytes (the
# parser decodes bytes with surrogatepass). A match is only a hint: a pair of escapes
# (an emoji, from any ensure_ascii encoder) is fine, so the parsed strings are checked.
_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJSON(ValueError):
    """The body is not a JSON object the server can use; the message says why."""


def parse_object(raw: bytes) -> dict[str, Any]:
    """`raw` as a JSON object; InvalidJSON (never anything else) when it is not one."""
    if not raw.strip():
        raise InvalidJSON("the request body is empty; send a JSON object")
    try:
        body = json.loads(raw)
    except RecursionError:
        raise InvalidJSON(_too_deep()) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidJSON("the request body must be a JSON object")
    # Nesting deeper than MAX_DEPTH needs that many brackets: most bodies have fewer.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _deeper_than(body, MAX_DEPTH):
        raise InvalidJSON(_too_deep())
    if _SURROGATE_HINT.search(raw) and _has_lone_surrogate(body):
        raise InvalidJSON("the request body has a lone surrogate (such as \\ud800) in a "
                          "string: that is not valid Unicode; send whole characters")
    return body


def _too_deep() -> str:
    return f"the request body is nested more than {MAX_DEPTH} levels deep"


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether non-empty objects and arrays nest more than `limit` levels, level by
    level (no recursion, so no depth can overflow the stack)."""
    level = [value]
    for _ in range(limit):
        deeper = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            deeper += [c for c in children if c and isinstance(c, dict | list)]
        if not deeper:
            return False
        level = deeper
    return True


def _has_lone_surrogate(value: Any) -> bool:
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return True
        elif isinstance(node, dict):
            pending += node.keys()
            pending += node.values()
        elif isinstance(node, list):
            pending += node
    return False
