"""The Anthropic Messages codec (see server/dialects/codec.py for the protocol).

Requests are read in messages_request.py and written in messages_write.py, streams in
messages_stream.py; whole answers, usage, errors and the token estimate are here.
"""

from __future__ import annotations

import json
import math
from typing import Any

from server.dialects.messages_common import (
    STOP_IN,
    STOP_OUT,
    new_id,
    tool_input,
    usage_fields,
    usage_in,
    usage_out,
)
from server.dialects.messages_request import read_request
from server.dialects.messages_stream import StreamReader, StreamWriter
from server.dialects.messages_write import write_request
from server.dialects.model import (
    Reply,
    Text,
    Thinking,
    ToolCall,
    UpstreamShapeError,
    Usage,
)

__all__ = [
    "StreamReader",
    "StreamWriter",
    "error_body",
    "estimate_input_tokens",
    "read_reply",
    "read_request",
    "usage_of",
    "write_reply",
    "write_request",
]

# Anthropic's error types by HTTP status (other 4xx: invalid_request_error; 5xx: api_error).
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               402: "billing_error", 403: "permission_error", 404: "not_found_error",
               409: "conflict_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 502: "api_error", 503: "overloaded_error",
               504: "timeout_error", 529: "overloaded_error"}
IMAGE_TOKENS = 1600  # what one image is counted as by estimate_input_tokens


def _part(block: Any) -> Text | Thinking | ToolCall | None:
    """A content block of an answer; None for a block no other dialect has (Anthropic
    adds block types over time; the text and tool calls around them still get through)."""
    if not isinstance(block, dict):
        raise UpstreamShapeError("a content block is not an object")
    kind = block.get("type")
    try:
        if kind == "text":
            return Text(_str(block, "text"))
        if kind == "thinking":
            return Thinking(_str(block, "thinking"), signature=block.get("signature") or None)
        if kind == "redacted_thinking":
            return Thinking("", encrypted=_str(block, "data"), redacted=True)
        if kind == "tool_use":
            arguments = block.get("input")
            if not isinstance(arguments, dict):
                raise UpstreamShapeError("a tool_use block's input is not an object")
            return ToolCall(_str(block, "id"), _str(block, "name"),
                            json.dumps(arguments, ensure_ascii=False))
    except KeyError as exc:
        raise UpstreamShapeError(f"a {kind} block has no string {exc.args[0]}") from None
    return None


def _str(block: dict[str, Any], key: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise KeyError(key)
    return value


def read_reply(answer: Any) -> Reply:
    """An Anthropic provider's whole answer (a message object)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("content"), list):
        raise UpstreamShapeError("the answer is not a message with a content array")
    parts = [p for p in map(_part, answer["content"]) if p is not None]
    stop = answer.get("stop_reason")
    sequence = answer.get("stop_sequence")
    model = answer.get("model")
    message_id = answer.get("id")
    return Reply(id=message_id if isinstance(message_id, str) else new_id("msg"),
                 model=model if isinstance(model, str) else "",
                 parts=parts,
                 stop=STOP_IN.get(stop, "end") if isinstance(stop, str) else "end",
                 stop_sequence=sequence if isinstance(sequence, str) else None,
                 usage=usage_of(answer))


def usage_of(answer: Any) -> Usage | None:
    """The usage of a whole answer, or None where it is missing or malformed."""
    if not isinstance(answer, dict):
        return None
    try:
        return usage_in(usage_fields(answer.get("usage")))
    except ValueError:
        return None


def _block(part: Text | Thinking | ToolCall) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name,
                "input": tool_input(part.arguments)}
    if part.redacted:
        return None  # another dialect's encrypted reasoning: Anthropic could not check it
    if not part.text and not part.signature:
        return None
    return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}


def write_reply(reply: Reply, model: str, body: Any) -> dict[str, Any]:
    """The whole answer for an Anthropic client, under the model name it asked for."""
    asked = body.get("model") if isinstance(body, dict) else None
    return {
        "id": reply.id if reply.id.startswith("msg_") else new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": asked if isinstance(asked, str) else model,
        "content": [b for b in map(_block, reply.parts) if b is not None],
        "stop_reason": STOP_OUT[reply.stop],
        "stop_sequence": reply.stop_sequence if reply.stop == "stop_sequence" else None,
        "usage": usage_out(reply.usage or Usage()),
    }


def error_body(status: int, message: str, code: str | None = None,
               param: str | None = None) -> bytes:
    """An error in Anthropic's shape. Its type comes from the status (as Anthropic's own
    does); `code` and `param` have no place in it, so a field is named in the message."""
    kind = ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    if param and param not in message:
        message = f"{param}: {message}"
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _without_images(value: Any) -> tuple[Any, int]:
    """The value with every image block's source emptied, and how many there were."""
    if isinstance(value, list):
        found = [_without_images(v) for v in value]
        return [v for v, _ in found], sum(n for _, n in found)
    if isinstance(value, dict):
        if value.get("type") == "image":
            return {"type": "image"}, 1
        found = {k: _without_images(v) for k, v in value.items()}
        return {k: v for k, (v, _) in found.items()}, sum(n for _, n in found.values())
    return value, 0


def estimate_input_tokens(body: Any) -> int:
    """A count_tokens answer where the provider has no exact count: a quarter of the JSON
    text of system, messages and tools (never fewer tokens than that), each image as
    IMAGE_TOKENS instead of its base64 length."""
    if not isinstance(body, dict):
        return 0
    counted = {k: body[k] for k in ("system", "messages", "tools") if k in body}
    stripped, images = _without_images(counted)
    text = json.dumps(stripped, ensure_ascii=False)
    return math.ceil(len(text) / 4) + images * IMAGE_TOKENS
