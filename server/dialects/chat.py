"""The OpenAI chat completions dialect: requests read from chat clients and written for
chat providers (OpenAI, OpenRouter, vLLM, Ollama, llama.cpp ...).

Pure: plain dict access, no I/O. Requests are written in chat_write.py, whole answers
read and written in chat_answer.py, streams in chat_stream.py; this module is the
codec's whole surface (server/dialects/codec.py). Used only where a translation is
needed: between a chat client and a chat provider the bytes pass through.
"""

from __future__ import annotations

import math
import re
from typing import Any

from server.dialects.chat_answer import read_reply, usage_of, write_reply
from server.dialects.chat_stream import StreamReader, StreamWriter
from server.dialects.chat_write import write_request
from server.dialects.model import (
    DialectError,
    Effort,
    Image,
    Message,
    Part,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

__all__ = ["StreamReader", "StreamWriter", "error_body", "read_reply", "read_request",
           "usage_of", "write_reply", "write_request"]

_EFFORTS: dict[str, Effort | None] = {
    "minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
    "xhigh": "high", "none": None}  # "none": no reasoning, every provider's default
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,", re.ASCII)
_SYSTEM_ROLES = ("system", "developer")


def error_body(status: int, message: str, code: str | None = None,
               param: str | None = None) -> bytes:
    """The error in the OpenAI shape (the one the rest of the server answers with)."""
    from server.errors import error_body as openai_error  # Flask's module: not on import

    return openai_error(status, message, code, param)


# --- reading a client's request ----------------------------------------------------


def read_request(body: Any) -> Request:
    """A chat client's request; DialectError naming the field it cannot carry."""
    if not isinstance(body, dict):
        raise DialectError("body", "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise DialectError("model", "model is required and must be a string")
    _refuse_untranslatable(body)
    request = Request(model=model, messages=[])
    _read_messages(body.get("messages"), request)
    request.tools = _read_tools(body.get("tools"))
    request.tool_choice = _read_tool_choice(body.get("tool_choice"),
                                            body.get("parallel_tool_calls"))
    _read_options(body, request)
    return request


def _refuse_untranslatable(body: dict[str, Any]) -> None:
    """What only a chat provider could answer: DialectError, never a silent drop."""
    n = body.get("n")
    if n is not None and n != 1:
        raise DialectError("n", "only 1 choice (n=1) can be asked of this model")
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise DialectError(legacy, f"{legacy} (legacy function calling) cannot be "
                               "translated for this model: use tools and tool_choice")
    modalities = body.get("modalities")
    if body.get("audio") is not None or (isinstance(modalities, list) and "audio" in modalities):
        raise DialectError("audio", "audio output cannot be asked of this model")
    if body.get("web_search_options") is not None:
        raise DialectError("web_search_options", "the web search tool cannot be translated "
                           "for this model")


def _read_options(body: dict[str, Any], request: Request) -> None:
    """The sampling, limit and format options."""
    limit = body.get("max_completion_tokens")
    request.max_tokens = _whole("max_completion_tokens", limit) if limit is not None \
        else _whole("max_tokens", body.get("max_tokens"))
    request.temperature = _number("temperature", body.get("temperature"))
    request.top_p = _number("top_p", body.get("top_p"))
    request.stop = _read_stop(body.get("stop"))
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise DialectError("stream", "stream must be true or false")
    request.stream = bool(stream)
    effort = body.get("reasoning_effort")
    if effort is not None and (not isinstance(effort, str) or effort not in _EFFORTS):
        raise DialectError("reasoning_effort", "reasoning_effort must be one of "
                           "none, minimal, low, medium, high")
    request.reasoning = _EFFORTS[effort] if effort is not None else None
    user = body.get("user")
    request.user = user if isinstance(user, str) else None
    request.response_format = _read_format(body.get("response_format"))


def _read_messages(messages: Any, request: Request) -> None:
    if not isinstance(messages, list) or not messages:
        raise DialectError("messages", "messages must be a non-empty list of messages")
    calls: set[str] = set()  # the tool calls so far, that results must answer
    out = request.messages
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise DialectError(where, "a message must be an object with a role")
        role = message.get("role")
        content = message.get("content")
        if role in _SYSTEM_ROLES:
            request.system.extend(p for p in _parts(content, where, text_only=True)
                                  if isinstance(p, Text))
        elif role == "user":
            out.append(Message("user", _parts(content, where)))
        elif role == "assistant":
            out.append(_assistant(message, where, calls))
        elif role == "tool":
            result = _tool_result(message, where, calls)
            if out and out[-1].role == "user" and out[-1].parts \
                    and isinstance(out[-1].parts[-1], ToolResult):
                out[-1].parts.append(result)  # parallel calls' results: one user turn
            else:
                out.append(Message("user", [result]))
        elif role == "function":
            raise DialectError(f"{where}.role", "function messages (legacy function "
                               "calling) cannot be translated: use tool messages")
        else:
            raise DialectError(f"{where}.role", f"unknown message role {role!r}")


def _parts(content: Any, where: str, text_only: bool = False) -> list[Part]:
    """A message's content: a string or a list of parts (text, image_url)."""
    if isinstance(content, str):
        return [Text(content)] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise DialectError(f"{where}.content", "content must be a string or a list of parts")
    parts: list[Part] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if not isinstance(text, str):
                raise DialectError(f"{at}.{kind}", f"a {kind} part needs its {kind} string")
            if text:
                parts.append(Text(text))
        elif kind == "image_url" and not text_only:
            parts.append(_image(part.get("image_url"), f"{at}.image_url"))
        elif kind in ("input_audio", "file", "image_url"):
            raise DialectError(at, f"the {kind} part cannot be translated for this model")
        else:
            raise DialectError(at, f"unknown content part type {kind!r}")
    return parts


def _image(value: Any, where: str) -> Image:
    if isinstance(value, str):  # some clients send the URL itself
        value = {"url": value}
    url = value.get("url") if isinstance(value, dict) else None
    if not isinstance(url, str) or not url:
        raise DialectError(f"{where}.url", "an image_url part needs its url")
    detail = value.get("detail")
    detail = detail if isinstance(detail, str) else None
    if not url.startswith("data:"):
        return Image(url=url, detail=detail)
    head = _DATA_URL.match(url)
    if head is None:
        raise DialectError(f"{where}.url", "an image data: URL must be base64 "
                           "(data:image/png;base64,...)")
    return Image(data=url[head.end():], media_type=head.group(1), detail=detail)


def _assistant(message: dict[str, Any], where: str, calls: set[str]) -> Message:
    parts: list[Part] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(Thinking(reasoning))
    parts += _parts(message.get("content"), where, text_only=True)
    tool_calls = message.get("tool_calls")
    if tool_calls is None:
        tool_calls = []
    if not isinstance(tool_calls, list):
        raise DialectError(f"{where}.tool_calls", "tool_calls must be a list")
    for j, call in enumerate(tool_calls):
        at = f"{where}.tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or call.get("type", "function") != "function":
            raise DialectError(at, "a tool call must be a function call "
                               "{id, type: function, function: {name, arguments}}")
        call_id, name = call.get("id"), function.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise DialectError(f"{at}.id", "a tool call needs its id")
        if not isinstance(name, str) or not name:
            raise DialectError(f"{at}.function.name", "a tool call needs its function name")
        arguments = function.get("arguments")
        if arguments is None:
            arguments = "{}"
        if not isinstance(arguments, str):
            raise DialectError(f"{at}.function.arguments", "arguments must be a JSON string")
        calls.add(call_id)
        parts.append(ToolCall(call_id, name, arguments))
    return Message("assistant", parts)


def _tool_result(message: dict[str, Any], where: str, calls: set[str]) -> ToolResult:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or call_id not in calls:
        raise DialectError(f"{where}.tool_call_id", "a tool message must answer a tool call "
                           "of an earlier assistant message (its tool_call_id)")
    content = [p for p in _parts(message.get("content"), where) if isinstance(p, Text | Image)]
    return ToolResult(call_id, content)


def _read_tools(tools: Any) -> list[Tool]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise DialectError("tools", "tools must be a list of function tools")
    read = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        function = tool.get("function") if isinstance(tool, dict) else None
        if kind != "function" or not isinstance(function, dict):
            raise DialectError(f"tools[{i}]", f"a tool of type {kind!r} cannot be translated "
                               "for this model: only function tools")
        name, description = function.get("name"), function.get("description")
        parameters, strict = function.get("parameters"), function.get("strict")
        if not isinstance(name, str) or not name:
            raise DialectError(f"tools[{i}].function.name", "a tool needs its name")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise DialectError(f"tools[{i}].function.parameters",
                               "parameters must be a JSON schema object")
        read.append(Tool(name, description if isinstance(description, str) else None,
                         parameters, strict if isinstance(strict, bool) else None))
    return read


def _read_tool_choice(choice: Any, parallel: Any) -> ToolChoice | None:
    parallel = parallel if isinstance(parallel, bool) else None
    if choice is None:
        return ToolChoice("auto", parallel=parallel) if parallel is not None else None
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice, parallel=parallel)
    is_function = isinstance(choice, dict) and choice.get("type") == "function"
    function = choice.get("function") if is_function else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        raise DialectError("tool_choice", "tool_choice must be auto, none, required or "
                           "{type: function, function: {name}}")
    return ToolChoice("tool", name, parallel)


def _read_stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise DialectError("stop", "stop must be a string or a list of strings")


def _read_format(value: Any) -> dict[str, Any] | None:
    kind = value.get("type") if isinstance(value, dict) else value
    if value is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    schema = value.get("json_schema") if kind == "json_schema" else None
    if not isinstance(schema, dict) or not isinstance(schema.get("schema", {}), dict):
        raise DialectError("response_format", "response_format must be text, json_object "
                           "or json_schema {name, schema, strict}")
    return {"name": schema.get("name") or "response", "schema": schema.get("schema", {}),
            "strict": schema.get("strict")}


def _whole(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DialectError(field, f"{field} must be a whole number of at least 1")
    return value


def _number(field: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DialectError(field, f"{field} must be a number")
    if not math.isfinite(value):  # Python's parser reads 1e400 as inf, and takes NaN
        raise DialectError(field, f"{field} must be a finite number")
    return value
