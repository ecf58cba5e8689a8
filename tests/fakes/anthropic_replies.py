"""What the fake upstream answers in Anthropic's Messages API, as plain data: messages
(whole and as the event stream), token counts, the models list and errors.

The stream is framed as Anthropic's is (`event: NAME\\ndata: {...}\\n\\n`): message_start
(with usage.input_tokens), ping, for each content block content_block_start /
content_block_delta... / content_block_stop, then message_delta (stop_reason,
usage.output_tokens) and message_stop.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.fakes.script import (
    Script,
    Turn,
    all_texts,
    cached_of,
    output_words,
    turn_for,
    words,
)

VERSION = "2023-06-01"
_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def input_tokens(body: dict[str, Any]) -> int:
    """The "tokens" of a request: the words of its system prompt and messages."""
    return words(all_texts("messages", body))


def _usage(body: dict[str, Any], turn: Turn) -> dict[str, int]:
    """Anthropic's counts: input_tokens leaves the cache reads out."""
    prompt = input_tokens(body)
    cached = cached_of(turn, prompt)
    return {"input_tokens": prompt - cached, "output_tokens": output_words(turn),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached}


def _blocks(turn: Turn) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if turn.text or not turn.tool_calls:
        blocks.append({"type": "text", "text": turn.text})
    blocks += [{"type": "tool_use", "id": cid, "name": name, "input": args}
               for cid, name, args in turn.tool_calls]
    return blocks


def _stop_reason(turn: Turn) -> str:
    return "tool_use" if turn.tool_calls else "end_turn"


def message(body: dict[str, Any], script: Script | None = None) -> dict[str, Any]:
    """The whole answer to a Messages request."""
    turn = turn_for(script, "messages", body)
    return {"id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant",
            "model": str(body.get("model") or "fake-model"), "content": _blocks(turn),
            "stop_reason": _stop_reason(turn), "stop_sequence": None,
            "usage": _usage(body, turn)}


def event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


def _pieces(text: str, n: int) -> list[str]:
    size = len(text)
    return [text[i * size // n:(i + 1) * size // n] for i in range(n)]


def _block_events(index: int, block: dict[str, Any], n: int) -> list[bytes]:
    if block["type"] == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"], n)]
    else:
        start = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p}
                  for p in _pieces(json.dumps(block["input"]), 2)]
    return [event("content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": start}),
            *(event("content_block_delta", {"type": "content_block_delta", "index": index,
                                            "delta": d}) for d in deltas),
            event("content_block_stop", {"type": "content_block_stop", "index": index})]


def stream_events(body: dict[str, Any], n: int, script: Script | None = None) -> list[bytes]:
    """A streamed answer: `n` text deltas, each tool call's input in two pieces."""
    whole = message(body, script)
    start = {**whole, "content": [], "stop_reason": None,
             "usage": {**whole["usage"], "output_tokens": 1}}
    events = [event("message_start", {"type": "message_start", "message": start}),
              event("ping", {"type": "ping"})]
    for index, block in enumerate(whole["content"]):
        events += _block_events(index, block, max(1, n))
    events.append(event("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": whole["usage"]["output_tokens"]}}))
    events.append(event("message_stop", {"type": "message_stop"}))
    return events


def models_list(models: list[str]) -> dict[str, Any]:
    """GET /v1/models as Anthropic answers it (asked with an anthropic-version header)."""
    data = [{"type": "model", "id": m, "display_name": m.replace("-", " ").title(),
             "created_at": "2025-02-19T00:00:00Z"} for m in models]
    return {"data": data, "has_more": False, "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None}
