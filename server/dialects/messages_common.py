"""What the Anthropic Messages codec's modules share: stop reasons, usage (Anthropic's
input_tokens leaves cache reads and writes out; the internal Usage counts them in),
ids, tool inputs and the JSON of SSE events."""

from __future__ import annotations

import json
import uuid
from typing import Any

from server.dialects.model import StopReason, Usage

# Anthropic's stop reasons, read. pause_turn (a server tool paused the turn) ends it for
# a client of another dialect; model_context_window_exceeded is a length stop.
STOP_IN: dict[str, StopReason] = {
    "end_turn": "end", "max_tokens": "length", "tool_use": "tool_use",
    "stop_sequence": "stop_sequence", "refusal": "refusal", "pause_turn": "end",
    "model_context_window_exceeded": "length",
}
STOP_OUT: dict[StopReason, str] = {
    "end": "end_turn", "length": "max_tokens", "tool_use": "tool_use",
    "stop_sequence": "stop_sequence", "refusal": "refusal",
}

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
                "cache_creation_input_tokens")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def count(value: object) -> int | None:
    """A token count as Anthropic sends it (null or absent: None); ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a token count: {value!r}")
    return value


def usage_fields(usage: object) -> dict[str, int]:
    """The token counts present in an Anthropic usage object (ValueError if malformed)."""
    if not isinstance(usage, dict):
        raise ValueError("usage is not an object")
    found = {name: count(usage.get(name)) for name in USAGE_FIELDS}
    return {name: value for name, value in found.items() if value is not None}


def usage_in(fields: dict[str, int]) -> Usage:
    """The internal Usage of Anthropic's counts: cache reads and writes added into input."""
    cached = fields.get("cache_read_input_tokens", 0)
    written = fields.get("cache_creation_input_tokens", 0)
    return Usage(input=fields.get("input_tokens", 0) + cached + written,
                 output=fields.get("output_tokens", 0), cached=cached, cache_write=written)


def usage_out(usage: Usage) -> dict[str, int]:
    """Anthropic's usage object: the cache reads and writes taken back out of input."""
    return {"input_tokens": max(usage.input - usage.cached - usage.cache_write, 0),
            "output_tokens": usage.output,
            "cache_read_input_tokens": usage.cached,
            "cache_creation_input_tokens": usage.cache_write}


def tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's JSON text as Anthropic's `input` object. No arguments is {}; text
    that is not a JSON object (the model's own bad JSON, from an earlier turn or this
    answer) is carried as {"_raw": text} rather than refused: refusing would make the
    conversation unusable forever, and the model (or the client's tool check) sees what
    went wrong."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


# Built once: json.dumps with options builds an encoder per call (a stream writes many).
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_COMPACT_ASCII = json.JSONEncoder(separators=(",", ":"))


def dumps(value: object) -> str:
    """Compact JSON; escaped to ASCII only where the text holds lone surrogates (which
    JSON escapes can carry but UTF-8 cannot)."""
    text = _COMPACT.encode(value)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = _COMPACT_ASCII.encode(value)
    return text


def sse(event_type: str, data: dict[str, Any]) -> bytes:
    """One event, its data as dumps() writes it (encoded to UTF-8 once)."""
    try:
        return f"event: {event_type}\ndata: {_COMPACT.encode(data)}\n\n".encode()
    except UnicodeEncodeError:  # a lone surrogate: escaped
        return f"event: {event_type}\ndata: {_COMPACT_ASCII.encode(data)}\n\n".encode()
