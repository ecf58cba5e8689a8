"""What the fake upstream answers in OpenAI's Responses API, as plain data: a response
(whole and as its event stream).

The stream: response.created, response.in_progress, then per output item
response.output_item.added, its content (a message: content_part.added,
output_text.delta..., output_text.done, content_part.done; a function call:
function_call_arguments.delta..., function_call_arguments.done), response.output_item.done,
and last response.completed with the whole response and its usage. Every event is framed
`event: TYPE\\ndata: {...}\\n\\n` and carries a sequence_number, as OpenAI's do.
"""

from __future__ import annotations

import json
import time
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


def _id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _items(turn: Turn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if turn.text or not turn.tool_calls:
        items.append({"type": "message", "id": _id("msg_"), "status": "completed",
                      "role": "assistant",
                      "content": [{"type": "output_text", "text": turn.text,
                                   "annotations": []}]})
    items += [{"type": "function_call", "id": _id("fc_"), "call_id": cid, "name": name,
               "arguments": json.dumps(args), "status": "completed"}
              for cid, name, args in turn.tool_calls]
    return items


def response(body: dict[str, Any], script: Script | None = None) -> dict[str, Any]:
    """The whole answer to a Responses request."""
    turn = turn_for(script, "responses", body)
    prompt, done = words(all_texts("responses", body)), output_words(turn)
    return {
        "id": _id("resp_"), "object": "response", "created_at": int(time.time()),
        "status": "completed", "error": None, "incomplete_details": None,
        "instructions": body.get("instructions"), "model": str(body.get("model") or "fake"),
        "output": _items(turn), "parallel_tool_calls": True, "tool_choice": "auto",
        "tools": body.get("tools") or [], "store": bool(body.get("store", True)),
        "usage": {"input_tokens": prompt,
                  "input_tokens_details": {"cached_tokens": cached_of(turn, prompt)},
                  "output_tokens": done, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": prompt + done},
    }


def _pieces(text: str, n: int) -> list[str]:
    size = len(text)
    return [text[i * size // n:(i + 1) * size // n] for i in range(n)]


def _item_events(index: int, item: dict[str, Any], n: int) -> list[dict[str, Any]]:
    at = {"item_id": item["id"], "output_index": index}
    if item["type"] == "function_call":
        args = item["arguments"]
        return [{"type": "response.output_item.added", "output_index": index,
                 "item": {**item, "arguments": "", "status": "in_progress"}},
                *({"type": "response.function_call_arguments.delta", **at, "delta": p}
                  for p in _pieces(args, 2)),
                {"type": "response.function_call_arguments.done", **at, "name": item["name"],
                 "arguments": args},
                {"type": "response.output_item.done", "output_index": index, "item": item}]
    part = item["content"][0]
    at = {**at, "content_index": 0}
    return [{"type": "response.output_item.added", "output_index": index,
             "item": {**item, "status": "in_progress", "content": []}},
            {"type": "response.content_part.added", **at, "part": {**part, "text": ""}},
            *({"type": "response.output_text.delta", **at, "delta": p, "logprobs": []}
              for p in _pieces(part["text"], n)),
            {"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []},
            {"type": "response.content_part.done", **at, "part": part},
            {"type": "response.output_item.done", "output_index": index, "item": item}]


def stream_events(body: dict[str, Any], n: int, script: Script | None = None) -> list[bytes]:
    """A streamed answer: `n` text deltas, each call's arguments in two pieces."""
    whole = response(body, script)
    opening = {**whole, "status": "in_progress", "output": [], "usage": None}
    events = [{"type": "response.created", "response": opening},
              {"type": "response.in_progress", "response": opening}]
    for index, item in enumerate(whole["output"]):
        events += _item_events(index, item, max(1, n))
    events.append({"type": "response.completed", "response": whole})
    return [f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': i})}\n\n".encode()
            for i, e in enumerate(events)]
