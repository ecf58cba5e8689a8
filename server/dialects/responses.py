"""The OpenAI Responses dialect (POST /v1/responses): a client's request read into the
internal model. Answers and provider requests are in responses_out.py, streams in
responses_stream.py; this module offers the whole codec (server/dialects/codec.py).

This server keeps no responses, so what needs OpenAI's stored state (previous_response_id,
store: true, conversation, stored prompts, item_reference) is refused, as are OpenAI's own
hosted tools (web search, file search, ...), which no other provider runs."""

from __future__ import annotations

from typing import Any

from server import errors
from server.dialects.model import (
    DialectError,
    Image,
    Message,
    Part,
    Request,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from server.dialects.responses_out import (  # noqa: F401  (the codec's module-level API)
    NAMESPACED,
    read_reply,
    thinking_of_item,
    usage_of,
    write_reply,
    write_request,
)
from server.dialects.responses_stream import StreamReader, StreamWriter  # noqa: F401

STATELESS = "this server keeps no responses: send the whole conversation (store: false)"
EFFORTS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
           "xhigh": "high", "none": None}
# Items and tools that only OpenAI itself can run or resolve.
HOSTED_ITEMS = {"custom_tool_call", "custom_tool_call_output", "local_shell_call",
                "local_shell_call_output", "web_search_call", "file_search_call",
                "computer_call", "computer_call_output", "code_interpreter_call",
                "image_generation_call", "mcp_call", "mcp_list_tools", "mcp_approval_request",
                "mcp_approval_response", "shell_call", "shell_call_output",
                "apply_patch_call", "apply_patch_call_output", "compaction",
                "tool_search_call", "tool_search_output"}


def read_request(body: Any) -> Request:
    """A client's Responses request (DialectError naming the field it cannot carry)."""
    if not isinstance(body, dict):
        raise DialectError("body", "the request body must be a JSON object")
    _refuse_state(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise DialectError("model", "a model name is required")
    request = Request(model=model, messages=[])
    instructions = body.get("instructions")
    if instructions is not None:
        request.system.append(Text(_str(instructions, "instructions")))
    _read_input(body.get("input"), request)
    request.tools = [tool for i, t in enumerate(_list(body, "tools"))
                     for tool in _tools(t, f"tools[{i}]")]
    request.tool_choice = _tool_choice(body)
    request.max_tokens = _number(body, "max_output_tokens", int)
    request.temperature = _number(body, "temperature", float)
    request.top_p = _number(body, "top_p", float)
    request.stream = _bool(body, "stream") or False
    request.reasoning = _effort(body.get("reasoning"))
    user = body.get("safety_identifier", body.get("user"))
    request.user = None if user is None else _str(user, "user")
    request.response_format = _text_format(body.get("text"))
    return request


def error_body(status: int, message: str, code: str | None = None,
               param: str | None = None) -> bytes:
    """Responses errors are OpenAI's usual error shape."""
    return errors.error_body(status, message, code, param)


def _refuse_state(body: dict) -> None:
    for name in ("previous_response_id", "conversation", "prompt"):
        if body.get(name) is not None:
            raise DialectError(name, STATELESS)
    if body.get("store") is True:
        raise DialectError("store", STATELESS)
    if body.get("background") is True:
        raise DialectError("background", STATELESS)


# --- input ---------------------------------------------------------------------------


def _read_input(value: Any, request: Request) -> None:
    if isinstance(value, str):
        request.messages.append(Message("user", [Text(value)]))
        return
    if not isinstance(value, list):
        raise DialectError("input", "input must be a string or a list of items")
    calls: set[str] = set()
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise DialectError(where, "an input item must be an object")
        kind = item.get("type", "message")
        if not isinstance(kind, str):
            raise DialectError(f"{where}.type", "an item's type must be a string")
        if kind == "message":
            role, parts = _message(item, where)
            if role == "system":
                request.system.extend(p for p in parts if isinstance(p, Text))
                continue
            _add(request.messages, role, parts)
        elif kind == "function_call":
            space = item.get("namespace")
            name = _str(item.get("name"), f"{where}.name")
            if space is not None:
                name = f"{_str(space, f'{where}.namespace')}{NAMESPACED}{name}"
            call = ToolCall(_str(item.get("call_id"), f"{where}.call_id"), name,
                            _str(item.get("arguments", ""), f"{where}.arguments"))
            calls.add(call.id)
            _add(request.messages, "assistant", [call])
        elif kind == "function_call_output":
            _add(request.messages, "user", [_call_output(item, where, calls)])
        elif kind == "reasoning":
            thinking = thinking_of_item(item, where)
            if thinking is not None:
                _add(request.messages, "assistant", [thinking])
        elif kind in HOSTED_ITEMS or kind == "item_reference":
            raise DialectError(f"{where}.type", f"{kind} items cannot be carried to this "
                               "provider (only OpenAI itself can run or resolve them)")
        else:
            raise DialectError(f"{where}.type", f"unknown input item type {kind!r}")


def _add(messages: list[Message], role: str, parts: list[Part]) -> None:
    """Consecutive items of one side make one message: a turn's reasoning, text and tool
    calls belong together, as do the tool results and text that answer them."""
    if messages and messages[-1].role == role:
        messages[-1].parts.extend(parts)
    else:
        messages.append(Message(role, list(parts)))  # type: ignore[arg-type]


def _message(item: dict, where: str) -> tuple[str, list[Part]]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise DialectError(f"{where}.role", "role must be user, assistant, system or developer")
    content = item.get("content")
    if isinstance(content, str):
        parts: list[Part] = [Text(content)]
    elif isinstance(content, list):
        parts = [_content_part(p, f"{where}.content[{j}]") for j, p in enumerate(content)]
    else:
        raise DialectError(f"{where}.content", "content must be a string or a list of parts")
    if role in ("system", "developer"):
        if any(not isinstance(p, Text) for p in parts):
            raise DialectError(f"{where}.content", f"a {role} message can hold only text")
        return "system", parts
    return role, parts


def _content_part(part: Any, where: str) -> Text | Image:
    if not isinstance(part, dict):
        raise DialectError(where, "a content part must be an object")
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return Text(_str(part.get("text"), f"{where}.text"))
    if kind == "refusal":
        return Text(_str(part.get("refusal"), f"{where}.refusal"))
    if kind == "input_image":
        return _image(part, where)
    if kind in ("input_file", "input_audio"):
        raise DialectError(f"{where}.type", f"{kind} parts cannot be carried to this provider")
    raise DialectError(f"{where}.type", f"unknown content part type {kind!r}")


def _image(part: dict, where: str) -> Image:
    if part.get("file_id") is not None:
        raise DialectError(f"{where}.file_id", "images by OpenAI file_id cannot be carried "
                           "to this provider: send image_url (a URL or a data: URL)")
    url = _str(part.get("image_url"), f"{where}.image_url")
    detail = part.get("detail")
    return Image(url=url, detail=detail if isinstance(detail, str) else None)


def _call_output(item: dict, where: str, calls: set[str]) -> ToolResult:
    call_id = _str(item.get("call_id"), f"{where}.call_id")
    if call_id not in calls:
        raise DialectError(f"{where}.call_id", f"no function_call with call_id {call_id!r} "
                           "comes before this output in the input")
    output = item.get("output")
    if isinstance(output, str):
        return ToolResult(call_id, [Text(output)])
    if not isinstance(output, list):
        raise DialectError(f"{where}.output", "output must be a string or a list of parts")
    return ToolResult(call_id, [_content_part(p, f"{where}.output[{j}]")
                                for j, p in enumerate(output)])


# --- tools and options ---------------------------------------------------------------


def _tools(tool: Any, where: str) -> list[Tool]:
    """A function tool; a namespace's functions as tools named namespace__name (what
    Anthropic and chat completions allow in a name; answers split them back)."""
    if isinstance(tool, dict) and tool.get("type") == "namespace":
        space = _str(tool.get("name"), f"{where}.name")
        inner = tool.get("tools")
        if not isinstance(inner, list):
            raise DialectError(f"{where}.tools", "a namespace needs its list of tools")
        tools = [_tool(t, f"{where}.tools[{j}]") for j, t in enumerate(inner)]
        for t in tools:
            t.name = f"{space}{NAMESPACED}{t.name}"
        return tools
    return [_tool(tool, where)]


def _tool(tool: Any, where: str) -> Tool:
    if not isinstance(tool, dict):
        raise DialectError(where, "a tool must be an object")
    kind = tool.get("type")
    if kind in ("web_search", "web_search_preview", "web_search_2025_08_26"):
        raise DialectError(f"{where}.type", f"the hosted {kind} tool runs only at OpenAI "
                           "(for Codex: set web_search = \"disabled\" in its config.toml)")
    if kind != "function":
        raise DialectError(f"{where}.type", f"the {kind!r} tool cannot be carried to this "
                           "provider (only function tools can)")
    parameters = tool.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    elif not isinstance(parameters, dict):
        raise DialectError(f"{where}.parameters", "parameters must be a JSON schema object")
    description = tool.get("description")
    strict = tool.get("strict")
    return Tool(_str(tool.get("name"), f"{where}.name"),
                None if description is None else _str(description, f"{where}.description"),
                parameters, strict if isinstance(strict, bool) else None)


def _tool_choice(body: dict) -> ToolChoice | None:
    choice, parallel = body.get("tool_choice"), _bool(body, "parallel_tool_calls")
    if choice is None:
        return None if parallel is None else ToolChoice("auto", parallel=parallel)
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice, parallel=parallel)
    if isinstance(choice, dict) and choice.get("type") == "function":
        return ToolChoice("tool", _str(choice.get("name"), "tool_choice.name"), parallel)
    raise DialectError("tool_choice", "tool_choice must be auto, none, required or "
                       "{type: function, name}")


def _effort(reasoning: Any) -> Any:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise DialectError("reasoning", "reasoning must be an object")
    effort = reasoning.get("effort")
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in EFFORTS:
        raise DialectError("reasoning.effort", f"unknown reasoning effort {effort!r}")
    return EFFORTS[effort]


def _text_format(text: Any) -> dict | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise DialectError("text", "text must be an object")
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise DialectError("text.format.schema", "schema must be a JSON schema object")
        strict = fmt.get("strict")
        return {"name": _str(fmt.get("name", "response"), "text.format.name"),
                "schema": schema, "strict": strict if isinstance(strict, bool) else None}
    raise DialectError("text.format.type", "text.format must be text, json_object or "
                       "json_schema")


# --- field checks --------------------------------------------------------------------


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DialectError(where, "a string is required")
    return value


def _list(body: dict, name: str) -> list:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DialectError(name, "a list is required")
    return value


def _bool(body: dict, name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise DialectError(name, "true or false is required")
    return value


def _number(body: dict, name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DialectError(name, "a number is required")
    if kind is int:
        if value != int(value) or value < 1:
            raise DialectError(name, "a positive whole number is required")
        return int(value)
    return float(value)
