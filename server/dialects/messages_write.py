"""The internal Request as the body for an Anthropic Messages provider (write_request).

Anthropic wants roles to alternate, tool results in a user turn (before anything else
in it), no empty text blocks, max_tokens always, and no temperature / top_p / forced
tool choice while extended thinking is on.
"""

from __future__ import annotations

import re
from typing import Any

from server.dialects.messages_common import tool_input
from server.dialects.model import (
    DialectError,
    Effort,
    Image,
    Message,
    Request,
    Text,
    Thinking,
    ToolCall,
    ToolChoice,
    ToolResult,
)

DEFAULT_MAX_TOKENS = 4096
BUDGETS: dict[Effort, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
MIN_BUDGET = 1024  # Anthropic's least budget_tokens
DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.DOTALL)


def _image(image: Image, path: str) -> dict[str, Any]:
    if image.data is not None:
        source = {"type": "base64", "media_type": image.media_type or "image/png",
                  "data": image.data}
    elif image.url and image.url.startswith(("http://", "https://")):
        source = {"type": "url", "url": image.url}
    elif image.url and (found := DATA_URL.fullmatch(image.url)):
        source = {"type": "base64", "media_type": found[1], "data": found[2]}
    else:
        raise DialectError(path, "an image must be an http(s) URL or a base64 data URL")
    return {"type": "image", "source": source}


def _result(result: ToolResult, path: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": result.call_id}
    content = [{"type": "text", "text": p.text} if isinstance(p, Text) else _image(p, path)
               for p in result.content if not (isinstance(p, Text) and not p.text)]
    if content:
        block["content"] = content
    if result.is_error:
        block["is_error"] = True
    return block


def _block(part: object, role: str, path: str) -> dict[str, Any] | None:
    """The part as an Anthropic block; None for what Anthropic does not take back."""
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, Image):
        return _image(part, path)
    if isinstance(part, ToolResult):
        return _result(part, path)
    if role != "assistant":
        return None  # the model's own output, in a user turn: nothing to give back
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name,
                "input": tool_input(part.arguments)}
    if isinstance(part, Thinking) and part.redacted and part.encrypted:
        return {"type": "redacted_thinking", "data": part.encrypted}
    if isinstance(part, Thinking) and part.signature:
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    return None  # thinking Anthropic cannot check: dropped (see the design's reasoning rule)


def _turns(messages: list[Message]) -> list[dict[str, Any]]:
    """Alternating turns: consecutive same-role blocks merged; tool results always in a
    user turn, first in it; turns left empty dropped."""
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        for j, part in enumerate(message.parts):
            block = _block(part, message.role, f"messages[{i}].parts[{j}]")
            if block is None:
                continue
            role = "user" if block["type"] == "tool_result" else message.role
            if not turns or turns[-1]["role"] != role:
                turns.append({"role": role, "content": []})
            turns[-1]["content"].append(block)
    for turn in turns:
        turn["content"].sort(key=lambda b: b["type"] != "tool_result")  # stable
    return turns


def _tool_choice(choice: ToolChoice | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    kinds = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}
    out: dict[str, Any] = {"type": kinds[choice.mode]}
    if choice.mode == "tool":
        out["name"] = choice.name
    if choice.parallel is False and choice.mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _budget(request: Request, turns: list[dict[str, Any]]) -> int | None:
    """The thinking budget, or None where thinking cannot be on: a forced tool choice,
    or a tool-use turn being continued whose thinking did not come back (Anthropic
    requires an assistant turn with tool_use to start with its thinking then)."""
    if request.reasoning_budget is not None:
        budget = max(request.reasoning_budget, MIN_BUDGET)
    elif request.reasoning is not None:
        budget = BUDGETS[request.reasoning]
    else:
        return None
    if request.tool_choice and request.tool_choice.mode in ("required", "tool"):
        return None
    last = next((t for t in reversed(turns) if t["role"] == "assistant"), None)
    if last and any(b["type"] == "tool_use" for b in last["content"]) and \
            last["content"][0]["type"] not in ("thinking", "redacted_thinking"):
        return None
    return budget


def write_request(request: Request, model: str) -> dict[str, Any]:
    """The request's body for an Anthropic Messages provider, for its upstream `model`."""
    if request.response_format is not None:
        raise DialectError("response_format", "a response format cannot be sent to an "
                                              "Anthropic Messages provider")
    turns = _turns(request.messages)
    body: dict[str, Any] = {"model": model,
                            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
                            "messages": turns}
    system = [t.text for t in request.system if t.text]
    if system:
        body["system"] = system[0] if len(system) == 1 else \
            [{"type": "text", "text": text} for text in system]
    if request.tools:
        body["tools"] = [{"name": t.name, "input_schema": t.parameters}
                         | ({"description": t.description} if t.description else {})
                         for t in request.tools]
        choice = _tool_choice(request.tool_choice)
        if choice:
            body["tool_choice"] = choice
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.stream:
        body["stream"] = True
    if request.user:
        body["metadata"] = {"user_id": request.user}
    budget = _budget(request, turns)
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if body["max_tokens"] <= budget:  # the budget must stay below max_tokens
            body["max_tokens"] = budget + DEFAULT_MAX_TOKENS
    elif request.temperature is not None:
        # Anthropic's range is 0..1 (OpenAI's 0..2); its newer models refuse temperature
        # and top_p together, so top_p goes only alone.
        body["temperature"] = min(max(request.temperature, 0.0), 1.0)
    elif request.top_p is not None:
        body["top_p"] = request.top_p
    return body
