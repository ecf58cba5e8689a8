"""The request for a provider that speaks OpenAI Responses, from the internal model."""

from __future__ import annotations

from typing import Any

from server.dialects.model import (
    DialectError,
    Image,
    Request,
    Text,
    ToolCall,
    ToolResult,
    openai_user,
)
from server.dialects.responses_out import reasoning_item


def write_request(request: Request, model: str) -> dict:
    """The request for a provider that speaks Responses (stateless: store false)."""
    body: dict[str, Any] = {"model": model, "input": _input_items(request), "store": False,
                            "stream": request.stream}
    if request.system:
        body["instructions"] = "\n\n".join(t.text for t in request.system)
    if request.tools:
        body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                          "parameters": t.parameters, "strict": t.strict is True}
                         for t in request.tools]
    choice = request.tool_choice
    if choice is not None:
        body["tool_choice"] = ({"type": "function", "name": choice.name}
                               if choice.mode == "tool" else choice.mode)
        if choice.parallel is not None:
            body["parallel_tool_calls"] = choice.parallel
    for name, value in (("max_output_tokens", request.max_tokens), ("user", openai_user(request)),
                        ("temperature", request.temperature), ("top_p", request.top_p)):
        if value is not None:
            body[name] = value
    if request.reasoning is not None:
        body["reasoning"] = {"effort": request.reasoning}
    if request.response_format is not None:
        fmt = request.response_format
        body["text"] = {"format": fmt if fmt.get("type") == "json_object"
                        else {"type": "json_schema", **fmt}}
    if request.stop:
        raise DialectError("stop", "the Responses API has no stop sequences")
    return body


def _input_items(request: Request) -> list[dict]:
    items: list[dict] = []
    for message in request.messages:
        current: dict | None = None  # the message item text and images go into
        for part in message.parts:
            if isinstance(part, (Text, Image)):
                if current is None:
                    current = {"type": "message", "role": message.role, "content": []}
                    items.append(current)
                current["content"].append(_content(part, message.role))
                continue
            current = None
            if isinstance(part, ToolCall):
                items.append({"type": "function_call", "call_id": part.id,
                              "name": part.name, "arguments": part.arguments})
            elif isinstance(part, ToolResult):
                items.append({"type": "function_call_output", "call_id": part.call_id,
                              "output": [_content(c, "user") for c in part.content]})
            elif part.encrypted and not part.redacted and not part.signature:
                items.append(reasoning_item(part))  # OpenAI's own: it can check it
    return items


def _content(part: Text | Image, role: str) -> dict:
    if isinstance(part, Text):
        return {"type": "output_text" if role == "assistant" else "input_text",
                "text": part.text}
    url = part.url or f"data:{part.media_type};base64,{part.data}"
    image = {"type": "input_image", "image_url": url}
    return image | {"detail": part.detail} if part.detail else image
