"""The OpenAI Responses dialect's answers: the response object and its output items, read
and written; pure functions shared by the codec (responses.py), its streams
(responses_stream.py, responses_stream_write.py) and its provider requests
(responses_request.py)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from server.dialects.model import (
    DialectError,
    Reply,
    Text,
    Thinking,
    ToolCall,
    UpstreamShapeError,
    Usage,
)

# Anthropic's thinking signatures (and redacted thinking) ride in a reasoning item's
# encrypted_content, so that a Responses client (Codex) hands them back with the history
# and an Anthropic provider gets its thinking blocks back on tool-use turns.
SIGNATURE = "modelproxy:anthropic-signature:"
REDACTED = "modelproxy:anthropic-redacted:"
NAMESPACED = "__"  # between a namespace tool's name and its function's
STOPS = {"max_output_tokens": "length", "content_filter": "refusal"}
INCOMPLETE = {"length": "max_output_tokens", "refusal": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


# --- reasoning items -----------------------------------------------------------------


def thinking_of_item(item: dict, where: str) -> Thinking | None:
    """A reasoning item as Thinking (None where it holds nothing to carry)."""
    summary = item.get("summary") or []
    content = item.get("content") or []
    if not isinstance(summary, list) or not isinstance(content, list):
        raise DialectError(f"{where}.summary", "summary and content must be lists")
    texts = []
    for j, part in enumerate(summary + content):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise DialectError(f"{where}.summary[{j}]", "a summary part needs its text")
        texts.append(part["text"])
    encrypted = item.get("encrypted_content")
    if encrypted is not None and not isinstance(encrypted, str):
        raise DialectError(f"{where}.encrypted_content", "a string is required")
    thinking = Thinking("\n\n".join(t for t in texts if t), encrypted=encrypted)
    if encrypted and encrypted.startswith(SIGNATURE):
        thinking.encrypted, thinking.signature = None, encrypted[len(SIGNATURE):]
    elif encrypted and encrypted.startswith(REDACTED):
        thinking.encrypted, thinking.redacted = encrypted[len(REDACTED):], True
    return thinking if thinking.text or encrypted else None


def reasoning_item(thinking: Thinking, item_id: str | None = None) -> dict:
    item: dict[str, Any] = {"id": item_id or new_id("rs"), "type": "reasoning", "summary": []}
    if thinking.text and not thinking.redacted:
        item["summary"] = [{"type": "summary_text", "text": thinking.text}]
    if thinking.redacted and thinking.encrypted:
        item["encrypted_content"] = REDACTED + thinking.encrypted
    elif thinking.signature:
        item["encrypted_content"] = SIGNATURE + thinking.signature
    elif thinking.encrypted:
        item["encrypted_content"] = thinking.encrypted
    return item


def text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": []}


def message_item(text: str | None, item_id: str | None = None,
                 status: str = "completed") -> dict:
    """A message item; `text` None: with no content yet (as a stream adds it)."""
    return {"id": item_id or new_id("msg"), "type": "message", "status": status,
            "role": "assistant", "content": [] if text is None else [text_part(text)]}


def call_item(call: ToolCall, item_id: str | None = None, status: str = "completed",
              body: Any = None) -> dict:
    item = {"id": item_id or new_id("fc"), "type": "function_call", "status": status,
            "call_id": call.id, "name": call.name, "arguments": call.arguments}
    space, _, name = call.name.partition(NAMESPACED)
    if name and space in namespaces(body):
        item["namespace"], item["name"] = space, name
    return item


def namespaces(body: Any) -> set[str]:
    """The namespace tools the client offered (their functions' calls name them)."""
    tools = body.get("tools") if isinstance(body, dict) else None
    return {t.get("name") for t in tools or () if isinstance(t, dict)
            and t.get("type") == "namespace" and isinstance(t.get("name"), str)}


# --- the response object -------------------------------------------------------------


def usage_json(usage: Usage) -> dict:
    return {"input_tokens": usage.input,
            "input_tokens_details": {"cached_tokens": usage.cached,
                                     "cache_write_tokens": usage.cache_write},
            "output_tokens": usage.output,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning},
            "total_tokens": usage.input + usage.output}


def response_object(response_id: str, created_at: int, model: str, body: Any,
                    output: list[dict], status: str, usage: Usage | None = None,
                    stop: str = "end", error: dict | None = None) -> dict:
    """The response object as OpenAI gives it, with the client's request fields echoed
    (the SDK's Response type requires several of them)."""
    body = body if isinstance(body, dict) else {}
    reason = INCOMPLETE.get(stop) if status == "incomplete" else None
    text = body.get("text") if isinstance(body.get("text"), dict) else {}
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": status,
        "background": False, "error": error,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": _echo(body, "instructions", str), "max_output_tokens":
        _echo(body, "max_output_tokens", int), "model": model, "output": output,
        "parallel_tool_calls": _echo(body, "parallel_tool_calls", bool, True),
        "previous_response_id": None, "prompt_cache_key": _echo(body, "prompt_cache_key", str),
        "reasoning": _reasoning_echo(body.get("reasoning")), "store": False,
        "temperature": _echo(body, "temperature", (int, float)),
        "text": {"format": {"type": "text"}, **text},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") if isinstance(body.get("tools"), list) else [],
        "top_p": _echo(body, "top_p", (int, float)), "truncation": "disabled",
        "usage": None if usage is None else usage_json(usage),
        "user": _echo(body, "user", str),
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
    }


def _echo(body: dict, name: str, kind: Any, default: Any = None) -> Any:
    value = body.get(name)
    return value if isinstance(value, kind) and not (kind is int and value is True) else default


def _reasoning_echo(reasoning: Any) -> dict:
    reasoning = reasoning if isinstance(reasoning, dict) else {}
    return {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}


def output_of(parts: list, body: Any = None) -> list[dict]:
    """A reply's parts as output items: reasoning, then text, then calls, in their order
    (consecutive text parts make one message)."""
    items: list[dict] = []
    for part in parts:
        if isinstance(part, Thinking):
            if part.text or part.signature or part.encrypted:
                items.append(reasoning_item(part))
        elif isinstance(part, ToolCall):
            items.append(call_item(part, body=body))
        elif items and items[-1]["type"] == "message":
            items[-1]["content"][0]["text"] += part.text
        else:
            items.append(message_item(part.text))
    return items


def write_reply(reply: Reply, model: str, body: Any) -> dict:
    """The whole answer for a Responses client, which sent `body` for `model`."""
    status = "incomplete" if reply.stop in INCOMPLETE else "completed"
    return response_object(new_id("resp"), int(time.time()), model, body,
                           output_of(reply.parts, body), status, reply.usage, reply.stop)


# --- a provider's answer -------------------------------------------------------------


def usage_of(answer: Any) -> Usage | None:
    """The usage of a response object (or of its `usage` member), where believable."""
    usage = answer.get("usage") if isinstance(answer, dict) else None
    if not isinstance(usage, dict):
        return None
    counts = [usage.get("input_tokens"), usage.get("output_tokens")]
    if not all(_count(c) for c in counts):
        return None
    cached = _detail(usage, "input_tokens_details", "cached_tokens")
    written = _detail(usage, "input_tokens_details", "cache_write_tokens")
    reasoning = _detail(usage, "output_tokens_details", "reasoning_tokens")
    return Usage(counts[0], counts[1], cached, written, reasoning)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _detail(usage: dict, group: str, name: str) -> int:
    details = usage.get(group)
    value = details.get(name) if isinstance(details, dict) else None
    return value if _count(value) else 0


def read_reply(answer: Any) -> Reply:
    """A provider's whole response object (UpstreamShapeError where it is none)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("output"), list):
        raise UpstreamShapeError("the answer is not a Responses response object")
    if answer.get("status") == "failed" or isinstance(answer.get("error"), dict):
        error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        raise UpstreamShapeError(str(error.get("message") or "the response failed"))
    parts: list[Text | Thinking | ToolCall] = []
    for i, item in enumerate(answer["output"]):
        parts.extend(_output_parts(item, f"output[{i}]"))
    reply = Reply(str(answer.get("id") or new_id("resp")), str(answer.get("model") or ""),
                  parts, usage=usage_of(answer))
    if answer.get("status") == "incomplete":
        reply.stop = incomplete_stop(answer)
    elif any(isinstance(p, ToolCall) for p in parts):
        reply.stop = "tool_use"
    return reply


def incomplete_stop(response: dict) -> Any:
    """Why an incomplete response stopped (cut short at the output limit, unless said)."""
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    return STOPS.get(reason, "length") if isinstance(reason, str) else "length"


def _output_parts(item: Any, where: str) -> list:
    if not isinstance(item, dict):
        raise UpstreamShapeError(f"{where} is not an object")
    kind = item.get("type")
    if kind == "message":
        content = item.get("content")
        if not isinstance(content, list):
            raise UpstreamShapeError(f"{where}.content is not a list")
        return [Text(_text(c, where)) for c in content
                if isinstance(c, dict) and c.get("type") in ("output_text", "refusal")]
    if kind == "function_call":
        fields = [item.get("call_id"), item.get("name"), item.get("arguments", "")]
        if not all(isinstance(f, str) for f in fields):
            raise UpstreamShapeError(f"{where} is not a whole function call")
        return [ToolCall(*fields)]
    if kind == "reasoning":
        try:
            thinking = thinking_of_item(item, where)
        except DialectError as exc:
            raise UpstreamShapeError(str(exc)) from None
        return [thinking] if thinking else []
    return []  # hosted tools' items: nothing a translated client could be given


def _text(content: dict, where: str) -> str:
    text = content.get("text", content.get("refusal"))
    if not isinstance(text, str):
        raise UpstreamShapeError(f"{where} has content without text")
    return text
