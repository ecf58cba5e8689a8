"""Chat completions answers: a provider's whole answer read, a client's written; the
usage and finish reasons that streams (chat_stream.py) share."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from server.dialects.model import (
    Reply,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    UpstreamShapeError,
    Usage,
)

# A count past this is a broken or hostile upstream's, not a real answer's (the same
# bound as server/client_api/usage.py's, which this pure module does not import).
MAX_COUNT = 100_000_000

_STOPS: dict[str, StopReason] = {"stop": "end", "length": "length", "tool_calls": "tool_use",
                                 "function_call": "tool_use", "content_filter": "refusal"}
FINISH: dict[str, str] = {"end": "stop", "length": "length", "tool_use": "tool_calls",
                          "stop_sequence": "stop", "refusal": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def chat_id(any_id: str) -> str:
    """A chat completion's id from another dialect's (msg_..., resp_...), still traceable."""
    return any_id if any_id.startswith("chatcmpl") else f"chatcmpl-{any_id}"


def client_model(model: str, body: Any) -> str:
    """The model name the client asked for (an endpoint's name or alias), not upstream's."""
    asked = body.get("model") if isinstance(body, dict) else None
    return asked if isinstance(asked, str) and asked else model


def stop_of(finish: Any, saw_calls: bool) -> StopReason:
    """A finish_reason as a StopReason. Some servers (older Ollama, some vLLM models)
    end a tool-calling turn with "stop": with calls made, it asks for their results."""
    reason = _STOPS.get(finish, "end") if isinstance(finish, str) else "end"
    return "tool_use" if saw_calls and reason == "end" else reason


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return None
    return value


def read_usage(usage: Any) -> Usage | None:
    """A chat `usage` object, where believable (prompt_tokens a sane count)."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens") or 0)
    if prompt is None or completion is None:
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")  # DeepSeek's own field
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    cached = _count(cached)
    # A cached count past the prompt is not believable: none cached (priced as input).
    cached = cached if cached is not None and cached <= prompt else 0
    return Usage(input=prompt, output=completion, cached=cached,
                 reasoning=min(_count(reasoning) or 0, completion))


def usage_of(answer: Any) -> Usage | None:
    """The usage in a whole chat answer, where believable."""
    return read_usage(answer.get("usage")) if isinstance(answer, dict) else None


def usage_dict(usage: Usage) -> dict[str, Any]:
    return {"prompt_tokens": usage.input, "completion_tokens": usage.output,
            "total_tokens": usage.input + usage.output,
            "prompt_tokens_details": {"cached_tokens": usage.cached},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning}}


def text_of(content: Any) -> str:
    """A content's text: a string, or a list of parts (some OpenAI-compatible servers
    send `[{"type": "text", "text": ...}]`); anything else has none."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(p["text"] for p in content
                   if isinstance(p, dict) and isinstance(p.get("text"), str))


def arguments_text(arguments: Any) -> str:
    """A tool call's arguments as JSON text (a few servers send the object itself)."""
    if isinstance(arguments, str):
        return arguments
    return "" if arguments is None else json.dumps(arguments, ensure_ascii=False)


def read_reply(answer: Any) -> Reply:
    """A chat provider's whole answer (its first choice)."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamShapeError("the upstream answer has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UpstreamShapeError("the upstream answer's choices[0].message is not an object")
    parts: list[Text | Thinking | ToolCall] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(Thinking(reasoning))
    text = text_of(message.get("content")) or message.get("refusal")
    if isinstance(text, str) and text:
        parts.append(Text(text))
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise UpstreamShapeError("the upstream answer's tool_calls is not a list")
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise UpstreamShapeError("the upstream answer has a tool call without a name")
        call_id = call.get("id")
        parts.append(ToolCall(call_id if isinstance(call_id, str) and call_id
                              else new_id("call_"), name,
                              arguments_text(function.get("arguments")) or "{}"))
    stop = stop_of(choice.get("finish_reason"), bool(calls))
    if message.get("refusal") and stop == "end":
        stop = "refusal"
    matched = choice.get("stop_reason")  # vLLM: the stop string that matched
    stop_sequence = matched if stop == "end" and isinstance(matched, str) else None
    answer_id, model = answer.get("id"), answer.get("model")
    return Reply(id=answer_id if isinstance(answer_id, str) and answer_id else new_id("chatcmpl-"),
                 model=model if isinstance(model, str) else "", parts=parts,
                 stop="stop_sequence" if stop_sequence else stop, stop_sequence=stop_sequence,
                 usage=usage_of(answer))


def write_reply(reply: Reply, model: str, body: Any) -> dict[str, Any]:
    """The whole chat answer for a client that sent `body`; named by its model name."""
    texts = [p.text for p in reply.parts if isinstance(p, Text)]
    thinking = [p.text for p in reply.parts if isinstance(p, Thinking) and p.text]
    calls = [{"id": p.id, "type": "function",
              "function": {"name": p.name, "arguments": p.arguments}}
             for p in reply.parts if isinstance(p, ToolCall)]
    message: dict[str, Any] = {"role": "assistant",
                               "content": "".join(texts) if texts or not calls else None}
    if thinking:  # as DeepSeek and vLLM show reasoning; clients that do not know it skip it
        message["reasoning_content"] = "".join(thinking)
    if calls:
        message["tool_calls"] = calls
    answer: dict[str, Any] = {
        "id": chat_id(reply.id), "object": "chat.completion", "created": int(time.time()),
        "model": client_model(model, body),
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": FINISH[reply.stop]}]}
    if reply.usage is not None:
        answer["usage"] = usage_dict(reply.usage)
    return answer
