"""The OpenAI Responses dialect (POST /v1/responses): a client's request read into the
internal model (tools and options in responses_options.py). Answers are in
responses_out.py, provider requests in responses_request.py, streams in
responses_stream.py (read) and responses_stream_write.py (written); this module offers the
whole codec (server/dialects/codec.py).

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
    ToolCall,
    ToolResult,
)
from server.dialects.responses_options import (
    bool_field,
    list_field,
    number_field,
    read_effort,
    read_text_format,
    read_tool_choice,
    read_tools,
    str_field,
)
from server.dialects.responses_out import (  # noqa: F401  (the codec's module-level API)
    NAMESPACED,
    read_reply,
    thinking_of_item,
    usage_of,
    write_reply,
)
from server.dialects.responses_request import write_request  # noqa: F401
from server.dialects.responses_stream import StreamReader  # noqa: F401
from server.dialects.responses_stream_write import StreamWriter  # noqa: F401

STATELESS = "this server keeps no responses: send the whole conversation (store: false)"
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
        request.system.append(Text(str_field(instructions, "instructions")))
    _read_input(body.get("input"), request)
    request.tools = [tool for i, t in enumerate(list_field(body, "tools"))
                     for tool in read_tools(t, f"tools[{i}]")]
    request.tool_choice = read_tool_choice(body)
    request.max_tokens = number_field(body, "max_output_tokens", int)
    request.temperature = number_field(body, "temperature", float)
    request.top_p = number_field(body, "top_p", float)
    request.stream = bool_field(body, "stream") or False
    request.reasoning = read_effort(body.get("reasoning"))
    user = body.get("safety_identifier", body.get("user"))
    request.user = None if user is None else str_field(user, "user")
    request.response_format = read_text_format(body.get("text"))
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
            name = str_field(item.get("name"), f"{where}.name")
            if space is not None:
                name = f"{str_field(space, f'{where}.namespace')}{NAMESPACED}{name}"
            call = ToolCall(str_field(item.get("call_id"), f"{where}.call_id"), name,
                            str_field(item.get("arguments", ""), f"{where}.arguments"))
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
        return Text(str_field(part.get("text"), f"{where}.text"))
    if kind == "refusal":
        return Text(str_field(part.get("refusal"), f"{where}.refusal"))
    if kind == "input_image":
        return _image(part, where)
    if kind in ("input_file", "input_audio"):
        raise DialectError(f"{where}.type", f"{kind} parts cannot be carried to this provider")
    raise DialectError(f"{where}.type", f"unknown content part type {kind!r}")


def _image(part: dict, where: str) -> Image:
    if part.get("file_id") is not None:
        raise DialectError(f"{where}.file_id", "images by OpenAI file_id cannot be carried "
                           "to this provider: send image_url (a URL or a data: URL)")
    url = str_field(part.get("image_url"), f"{where}.image_url")
    detail = part.get("detail")
    return Image(url=url, detail=detail if isinstance(detail, str) else None)


def _call_output(item: dict, where: str, calls: set[str]) -> ToolResult:
    call_id = str_field(item.get("call_id"), f"{where}.call_id")
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
