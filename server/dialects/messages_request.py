"""An Anthropic Messages request, read into the internal model (read_request).

What another dialect's provider could not carry is refused here, naming the field:
server tools, documents, search results, MCP servers, containers. Unknown top-level
fields are ignored (new beta parameters appear often); unknown block types are not.
"""

from __future__ import annotations

import json
import math
from typing import Any

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

# Blocks Anthropic knows that no other dialect can carry.
UNCARRIED_BLOCKS = ("document", "search_result", "server_tool_use", "web_search_tool_result",
                    "web_fetch_tool_result", "code_execution_tool_result", "container_upload",
                    "mcp_tool_use", "mcp_tool_result", "tool_reference")
UNCARRIED_FIELDS = ("mcp_servers", "container")
# output_config.effort (and adaptive thinking) as the internal effort.
EFFORTS: dict[str, Effort] = {"low": "low", "medium": "medium", "high": "high",
                              "xhigh": "high", "max": "high"}


def effort_of_budget(budget: int) -> Effort:
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


# --- typed access, each failure naming its field -------------------------------------


def _get(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], path: str,
         required: bool = False) -> Any:
    value = obj.get(key)
    if value is None:
        if required:
            raise DialectError(f"{path}{key}", "is required")
        return None
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise DialectError(f"{path}{key}", f"must be {_kind_name(kind)}")
    if not isinstance(value, kind):
        raise DialectError(f"{path}{key}", f"must be {_kind_name(kind)}")
    if isinstance(value, float) and not math.isfinite(value):  # 1e400 parses as inf
        raise DialectError(f"{path}{key}", "must be a finite number")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
             dict: "an object", list: "an array"}
    if isinstance(kind, tuple):
        return "a number" if set(kind) == {int, float} else " or ".join(names[k] for k in kind)
    return names[kind]


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DialectError(path, "must be an object")
    return value


def _block_type(block: Any, path: str) -> str:
    block = _obj(block, path)
    kind = block.get("type")
    if not isinstance(kind, str):
        raise DialectError(f"{path}.type", "must be a string")
    if kind in UNCARRIED_BLOCKS:
        raise DialectError(path, f"the {kind} block cannot be carried to a provider of "
                                 "another dialect")
    return kind


# --- content blocks ------------------------------------------------------------------


def _text(block: dict[str, Any], path: str) -> Text:
    return Text(_get(block, "text", str, f"{path}.", required=True))


def _image(block: dict[str, Any], path: str) -> Image:
    source = _obj(block.get("source"), f"{path}.source")
    kind = source.get("type")
    if kind == "base64":
        return Image(media_type=_get(source, "media_type", str, f"{path}.source.", True),
                     data=_get(source, "data", str, f"{path}.source.", True))
    if kind == "url":
        return Image(url=_get(source, "url", str, f"{path}.source.", True))
    raise DialectError(f"{path}.source.type", f"the image source {kind!r} cannot be carried "
                       "(base64 and url can)")


def _tool_result_content(value: Any, path: str) -> list[Text | Image]:
    if value is None:
        return []
    if isinstance(value, str):
        return [Text(value)] if value else []
    if not isinstance(value, list):
        raise DialectError(path, "must be a string or an array of blocks")
    parts: list[Text | Image] = []
    for j, block in enumerate(value):
        where = f"{path}[{j}]"
        kind = _block_type(block, where)
        if kind == "text":
            parts.append(_text(block, where))
        elif kind == "image":
            parts.append(_image(block, where))
        else:
            raise DialectError(f"{where}.type", f"unknown tool result block {kind!r}")
    return parts


def _part(block: Any, role: str, path: str, calls: set[str]) -> Part:
    kind = _block_type(block, path)
    if kind == "text":
        return _text(block, path)
    if kind == "image":
        return _image(block, path)
    if kind in ("tool_use", "thinking", "redacted_thinking") and role != "assistant":
        raise DialectError(f"{path}.type", f"a {kind} block belongs in an assistant turn")
    if kind == "tool_use":
        call = ToolCall(_get(block, "id", str, f"{path}.", True),
                        _get(block, "name", str, f"{path}.", True),
                        json.dumps(_get(block, "input", dict, f"{path}.") or {},
                                   ensure_ascii=False))
        calls.add(call.id)
        return call
    if kind == "thinking":
        return Thinking(_get(block, "thinking", str, f"{path}.", True),
                        signature=_get(block, "signature", str, f"{path}.") or None)
    if kind == "redacted_thinking":
        return Thinking("", encrypted=_get(block, "data", str, f"{path}.", True), redacted=True)
    if kind == "tool_result":
        if role != "user":
            raise DialectError(f"{path}.type", "a tool_result block belongs in a user turn")
        call_id = _get(block, "tool_use_id", str, f"{path}.", True)
        if call_id not in calls:
            raise DialectError(f"{path}.tool_use_id", f"no earlier tool_use has the id {call_id!r}")
        return ToolResult(call_id, _tool_result_content(block.get("content"), f"{path}.content"),
                          is_error=bool(_get(block, "is_error", bool, f"{path}.")))
    raise DialectError(f"{path}.type", f"unknown content block type {kind!r}")


def _message(value: Any, path: str, calls: set[str]) -> Message:
    message = _obj(value, path)
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise DialectError(f"{path}.role", "must be user, assistant or system")
    content = message.get("content")
    if isinstance(content, str):
        return Message(role, [Text(content)] if content else [])
    if not isinstance(content, list):
        raise DialectError(f"{path}.content", "must be a string or an array of blocks")
    return Message(role, [_part(block, role, f"{path}.content[{j}]", calls)
                          for j, block in enumerate(content)])


def _system(value: Any, path: str = "system") -> list[Text]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [Text(value)]
    if not isinstance(value, list):
        raise DialectError(path, "must be a string or an array of text blocks")
    texts = []
    for j, block in enumerate(value):
        if _block_type(block, f"{path}[{j}]") != "text":
            raise DialectError(f"{path}[{j}].type", "must be text")
        texts.append(_text(block, f"{path}[{j}]"))
    return texts


def _conversation(messages: list[Any], system: list[Text]) -> list[Message]:
    """The messages; a system message among them (Claude Code's mid-conversation-system
    beta) joins the system prompt, which is where other dialects can take it."""
    calls: set[str] = set()
    out = []
    for i, value in enumerate(messages):
        if isinstance(value, dict) and value.get("role") == "system":
            system.extend(_system(value.get("content"), f"messages[{i}].content"))
        else:
            out.append(_message(value, f"messages[{i}]", calls))
    return out


# --- tools and settings ------------------------------------------------------------


def _tool(value: Any, path: str) -> Tool:
    tool = _obj(value, path)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise DialectError(path, f"the server tool {kind} cannot be sent to a provider of "
                                 "another dialect")
    schema = _get(tool, "input_schema", dict, f"{path}.") or {"type": "object", "properties": {}}
    return Tool(_get(tool, "name", str, f"{path}.", True),
                _get(tool, "description", str, f"{path}."), schema,
                strict=_get(tool, "strict", bool, f"{path}."))


def _tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    choice = _obj(value, "tool_choice")
    disabled = _get(choice, "disable_parallel_tool_use", bool, "tool_choice.")
    parallel = None if disabled is None else not disabled
    kind = choice.get("type")
    modes = {"auto": "auto", "any": "required", "none": "none"}
    if isinstance(kind, str) and kind in modes:
        return ToolChoice(modes[kind], parallel=parallel)  # type: ignore[arg-type]
    if kind == "tool":
        return ToolChoice("tool", _get(choice, "name", str, "tool_choice.", True), parallel)
    raise DialectError("tool_choice.type", "must be auto, any, tool or none")


def _reasoning(body: dict[str, Any]) -> tuple[Effort | None, int | None]:
    config = _get(body, "output_config", dict, "") or {}
    named = _get(config, "effort", str, "output_config.")
    if named is not None and named not in EFFORTS:
        raise DialectError("output_config.effort", "must be low, medium, high, xhigh or max")
    effort = EFFORTS.get(named) if named else None
    thinking = _get(body, "thinking", dict, "")
    if thinking is None:
        return effort, None
    kind = thinking.get("type")
    if kind == "enabled":
        budget = _get(thinking, "budget_tokens", int, "thinking.", True)
        return effort or effort_of_budget(budget), budget
    if kind in ("disabled", "adaptive", "between_tools"):
        return effort, None  # None: the provider's default
    raise DialectError("thinking.type", "must be enabled, adaptive or disabled")


def _response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    config = _get(body, "output_config", dict, "") or {}
    shape = _get(config, "format", dict, "output_config.")
    if shape is None:
        return None
    schema = _get(shape, "schema", dict, "output_config.format.", True)
    return {"name": "output", "schema": schema, "strict": True}


def read_request(body: Any) -> Request:
    """A client's Anthropic Messages request as the internal Request."""
    body = _obj(body, "body")
    for name in UNCARRIED_FIELDS:
        if body.get(name) is not None:
            raise DialectError(name, f"{name} cannot be carried to a provider of another dialect")
    messages = _get(body, "messages", list, "", True)
    system = _system(body.get("system"))
    tools = _get(body, "tools", list, "") or []
    stop = _get(body, "stop_sequences", list, "") or []
    for j, item in enumerate(stop):
        if not isinstance(item, str):
            raise DialectError(f"stop_sequences[{j}]", "must be a string")
    metadata = _get(body, "metadata", dict, "") or {}
    max_tokens = _get(body, "max_tokens", int, "")
    if max_tokens is not None and max_tokens < 1:
        raise DialectError("max_tokens", "must be at least 1")
    _get(body, "top_k", int, "")
    reasoning, budget = _reasoning(body)
    return Request(
        model=_get(body, "model", str, "", True),
        messages=_conversation(messages, system),
        system=system,
        tools=[_tool(t, f"tools[{i}]") for i, t in enumerate(tools)],
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=max_tokens,
        temperature=_get(body, "temperature", (int, float), ""),
        top_p=_get(body, "top_p", (int, float), ""),
        stop=stop,
        stream=bool(_get(body, "stream", bool, "")),
        reasoning=reasoning,
        reasoning_budget=budget,
        user=_get(metadata, "user_id", str, "metadata."),
        response_format=_response_format(body),
    )
