"""A provider's own error event, read from one SSE event's data in the provider's dialect,
with the HTTP status it stands for: what a provider that has answered 200 already says
instead of the status it could no longer send (OpenRouter, vLLM, LiteLLM: `{"error":
{...}}`; Anthropic: `event: error`, `overloaded_error`; Responses: `response.failed`,
`error`). Sans-IO, as the codecs: bytes in, a small value out; it never raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.dialects.model import CHAT, MESSAGES, RESPONSES

MESSAGE_CHARS = 500  # of the provider's message; the caller scrubs keys from it
# Words of an error's type or code and the status a provider sends for them where it can,
# first match wins: "overloaded" before "server", "rate_limit" before "limit".
STATUS_WORDS: tuple[tuple[str, int], ...] = (
    ("overload", 529), ("rate_limit", 429), ("rate limit", 429), ("too_many", 429),
    ("insufficient_quota", 429), ("timeout", 504), ("unavailable", 503),
    ("server_error", 500), ("api_error", 500), ("internal", 500),
    ("request_too_large", 413), ("context_length", 400), ("invalid", 400),
    ("authentication", 401), ("permission", 403), ("not_found", 404),
)


# Events that open an answer but carry none of it, by dialect: a provider may still fail
# after them as though it had not begun (Anthropic's overload comes after message_start and
# ping, response.failed after response.created).
OPENING_TYPES: dict[str, frozenset[str]] = {
    MESSAGES: frozenset({"message_start", "ping"}),
    RESPONSES: frozenset({"response.created", "response.in_progress", "response.queued"}),
}


@dataclass(frozen=True)
class StreamError:
    """The provider's error: its message (cut) and the status it stands for (None: it
    says nothing that tells)."""

    message: str
    status: int | None


def stream_error(dialect: str, data: bytes) -> StreamError | None:
    """The provider's error in the data of one of its stream's events, or None where the
    event is no error (or not readable at all: that is the relay's to say)."""
    if b"error" not in data and b"failed" not in data:  # the usual event: no JSON read
        return None
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(event, dict):
        return None
    error = _error_of(dialect, event)
    if error is None:
        return None
    message = error.get("message") if isinstance(error, dict) else error
    return StreamError(str(message or "error")[:MESSAGE_CHARS], status_of(error))


def _error_of(dialect: str, event: dict[str, Any]) -> Any:
    """The error object (or value) in `event` as `dialect`'s codec recognises one."""
    kind = event.get("type")
    if dialect == CHAT:  # {"error": {...}}, OpenRouter's with a choice; vLLM's object
        error = event if event.get("object") == "error" else event.get("error")
        return error or None
    if dialect == MESSAGES:
        if kind != "error":
            return None
        error = event.get("error")
        return error if isinstance(error, dict) else {}
    if dialect == RESPONSES:
        if kind == "response.failed":
            response = event.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            return error if isinstance(error, dict) else {}
        if kind == "error":  # its fields on the event; newer ones nest an `error`
            error = event.get("error")
            return error if isinstance(error, dict) else event
    return None


def status_of(error: Any) -> int | None:
    """The HTTP status an error object stands for: its numeric code (OpenRouter and vLLM
    send the status as `code`, LiteLLM as a string of it), else by the words of its type
    and code; None where neither tells."""
    if not isinstance(error, dict):
        return None
    for key in ("code", "status", "status_code"):
        status = _http_status(error.get(key))
        if status is not None:
            return status
    words = " ".join(v for k in ("type", "code") if isinstance(v := error.get(k), str))
    words = words.lower()
    return next((status for word, status in STATUS_WORDS if word in words), None)


def _http_status(value: Any) -> int | None:
    if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is int and 400 <= value <= 599:
        return value
    return None


def opening_only(dialect: str, data: bytes) -> bool:
    """Whether one event's data only opens the answer, none of it yet (OPENING_TYPES).
    Chat has none: its first chunk (the role, as a rule) is the answer's start, as
    relayed mid-stream failures after it have always been."""
    types = OPENING_TYPES.get(dialect)
    if types is None:
        return False
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        return False
    kind = event.get("type") if isinstance(event, dict) else None
    return isinstance(kind, str) and kind in types
