"""Chat completions requests written for a chat provider, from the internal model."""

from __future__ import annotations

from typing import Any

from server.dialects.model import (
    DialectError,
    Image,
    Message,
    Request,
    Text,
    Tool,
    ToolCall,
    ToolResult,
    openai_user,
)


def write_request(request: Request, model: str) -> dict[str, Any]:
    """The chat body for a provider's `model`. Thinking parts are dropped (a chat
    provider cannot take reasoning back) and reasoning_effort is never sent (most chat
    servers and models reject it)."""
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system",
                         "content": "\n\n".join(t.text for t in request.system)})
    for i, message in enumerate(request.messages):
        if message.role == "assistant":
            messages.append(_write_assistant(message, i))
        else:
            messages.extend(_write_user(message))
    body: dict[str, Any] = {"model": model, "messages": messages}
    if request.tools:
        body["tools"] = [_write_tool(t) for t in request.tools]
    choice = request.tool_choice
    if choice is not None:
        body["tool_choice"] = choice.mode if choice.mode != "tool" else \
            {"type": "function", "function": {"name": choice.name}}
        if choice.parallel is not None and request.tools:  # OpenAI: only with tools
            body["parallel_tool_calls"] = choice.parallel
    for key, value in (("max_tokens", request.max_tokens),
                       ("temperature", request.temperature), ("top_p", request.top_p),
                       ("user", openai_user(request))):
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = request.stop
    if request.response_format is not None:
        body["response_format"] = _write_format(request.response_format)
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _write_user(message: Message) -> list[dict[str, Any]]:
    """A user turn: its tool results first, each a "tool" message (they must follow the
    assistant's calls), then the rest; a tool result's images (a chat tool message takes
    text only) go in the user message after them."""
    out: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ToolResult):
            text = "".join(p.text for p in part.content if isinstance(p, Text))
            out.append({"role": "tool", "tool_call_id": part.call_id, "content": text})
            rest += [_write_image(p) for p in part.content if isinstance(p, Image)]
        elif isinstance(part, Text):
            rest.append({"type": "text", "text": part.text})
        elif isinstance(part, Image):
            rest.append(_write_image(part))
    if rest:
        simple = len(rest) == 1 and rest[0]["type"] == "text"
        out.append({"role": "user", "content": rest[0]["text"] if simple else rest})
    elif not out:
        out.append({"role": "user", "content": ""})
    return out


def _write_assistant(message: Message, i: int) -> dict[str, Any]:
    texts = [p.text for p in message.parts if isinstance(p, Text)]
    calls = [{"id": p.id, "type": "function",
              "function": {"name": p.name, "arguments": p.arguments}}
             for p in message.parts if isinstance(p, ToolCall)]
    if any(isinstance(p, Image | ToolResult) for p in message.parts):
        raise DialectError(f"messages[{i}]", "an assistant message with images or tool "
                           "results cannot be sent to a chat completions provider")
    written: dict[str, Any] = {"role": "assistant",
                               "content": "".join(texts) if texts or not calls else None}
    if calls:
        written["tool_calls"] = calls
    return written


def _write_image(image: Image) -> dict[str, Any]:
    url = image.url or f"data:{image.media_type or 'image/png'};base64,{image.data or ''}"
    written: dict[str, Any] = {"url": url}
    if image.detail:
        written["detail"] = image.detail
    return {"type": "image_url", "image_url": written}


def _write_tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _write_format(fmt: dict[str, Any]) -> dict[str, Any]:
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    schema = {"name": fmt.get("name") or "response", "schema": fmt.get("schema") or {}}
    if fmt.get("strict") is not None:
        schema["strict"] = fmt["strict"]
    return {"type": "json_schema", "json_schema": schema}
