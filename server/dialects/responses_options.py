"""Reading a Responses request's tools and options, and the field checks the reader
shares (server/dialects/responses.py reads the rest)."""

from __future__ import annotations

import math
from typing import Any

from server.dialects.model import DialectError, Tool, ToolChoice
from server.dialects.responses_out import NAMESPACED

EFFORTS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
           "xhigh": "high", "none": None}


def read_tools(tool: Any, where: str) -> list[Tool]:
    """A function tool; a namespace's functions as tools named namespace__name (what
    Anthropic and chat completions allow in a name; answers split them back)."""
    if isinstance(tool, dict) and tool.get("type") == "namespace":
        space = str_field(tool.get("name"), f"{where}.name")
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
    return Tool(str_field(tool.get("name"), f"{where}.name"),
                None if description is None else str_field(description, f"{where}.description"),
                parameters, strict if isinstance(strict, bool) else None)


def read_tool_choice(body: dict) -> ToolChoice | None:
    choice, parallel = body.get("tool_choice"), bool_field(body, "parallel_tool_calls")
    if choice is None:
        return None if parallel is None else ToolChoice("auto", parallel=parallel)
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice, parallel=parallel)
    if isinstance(choice, dict) and choice.get("type") == "function":
        return ToolChoice("tool", str_field(choice.get("name"), "tool_choice.name"), parallel)
    raise DialectError("tool_choice", "tool_choice must be auto, none, required or "
                       "{type: function, name}")


def read_effort(reasoning: Any) -> Any:
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


def read_text_format(text: Any) -> dict | None:
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
        return {"name": str_field(fmt.get("name", "response"), "text.format.name"),
                "schema": schema, "strict": strict if isinstance(strict, bool) else None}
    raise DialectError("text.format.type", "text.format must be text, json_object or "
                       "json_schema")


# --- field checks --------------------------------------------------------------------


def str_field(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DialectError(where, "a string is required")
    return value


def list_field(body: dict, name: str) -> list:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DialectError(name, "a list is required")
    return value


def bool_field(body: dict, name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise DialectError(name, "true or false is required")
    return value


def number_field(body: dict, name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DialectError(name, "a number is required")
    if not math.isfinite(value):  # Python's parser reads 1e400 as inf, and takes NaN
        raise DialectError(name, "a finite number is required")
    if kind is int:
        if value != int(value) or value < 1:
            raise DialectError(name, "a positive whole number is required")
        return int(value)
    return float(value)
