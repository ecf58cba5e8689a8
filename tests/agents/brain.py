"""A scripted coding-agent "model" for the fake upstream's script hook.

`script(dialect, body) -> Turn` reads the request the fake received, in any of the three
dialects ("chat", "messages", "responses"), and answers as a model driving an agent would:

- the conversation ends with a tool result (after the last assistant turn) -> text
  "DONE: <the result's text>";
- else the request offers a shell-like tool (Claude Code's Bash {command}, Codex's
  exec_command {cmd} or shell {command: [argv]}) -> one call of it, with arguments built from
  the tool's own parameter schema, running PROOF_COMMAND (it writes PROOF_FILE);
- else (title generation, quota checks, other side requests) a short text; a JSON object
  when the request asks for structured output (Claude Code's titles do).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

try:  # the hook's own type once it is on main
    from tests.fakes.script import Turn
except ImportError:  # until then, the same fields (tests/fakes/script.py's API)
    from dataclasses import dataclass, field

    @dataclass
    class Turn:  # type: ignore[no-redef]
        text: str = ""
        tool_calls: list[tuple[str, str, dict]] = field(default_factory=list)

PROOF_FILE = "proof.txt"
PROOF_TEXT = "modelproxy-ok"
PROOF_COMMAND = f"echo {PROOF_TEXT} > {PROOF_FILE} && cat {PROOF_FILE}"
SHELL_TOOLS = ("Bash", "exec_command", "shell", "shell_command", "bash")
SIDE_TEXT = "Proof file written"


def script(dialect: str, body: dict[str, Any]) -> Turn:
    """The model's answer to `body`, a request in `dialect`."""
    result = _tool_result(dialect, body)
    if result is not None:
        return Turn(text=f"DONE: {result.strip()}")
    tool = _shell_tool(dialect, body)
    if tool is not None:
        name, schema = tool
        prefix = "toolu_" if dialect == "messages" else "call_"
        return Turn(tool_calls=[(prefix + uuid.uuid4().hex, name, shell_arguments(schema))])
    schema = _output_schema(dialect, body)
    return Turn(text=json.dumps(_fill(schema)) if schema else SIDE_TEXT)


def shell_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments running PROOF_COMMAND for a shell tool with this parameter schema."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    props = props if isinstance(props, dict) else {}
    key = "cmd" if "cmd" in props else "command"
    if (props.get(key) or {}).get("type") == "array":
        return {key: ["bash", "-lc", PROOF_COMMAND]}
    return {key: PROOF_COMMAND}


def text_of(content: Any) -> str:
    """A content string, or the text of a list of parts (any dialect's text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _tool_result(dialect: str, body: dict[str, Any]) -> str | None:
    """The text of the tool results after the last assistant turn, or None if none."""
    if dialect == "responses":
        items = body.get("input")
        items = items if isinstance(items, list) else []
        tail = _after_last(items, lambda i: i.get("role") == "assistant"
                           or i.get("type") in ("function_call", "reasoning"))
        outs = [text_of(i.get("output")) for i in tail if i.get("type") == "function_call_output"]
    else:
        messages = body.get("messages")
        messages = messages if isinstance(messages, list) else []
        tail = _after_last(messages, lambda m: m.get("role") == "assistant")
        if dialect == "chat":
            outs = [text_of(m.get("content")) for m in tail if m.get("role") == "tool"]
        else:
            outs = [text_of(b.get("content")) for m in tail if isinstance(m.get("content"), list)
                    for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    return "\n".join(outs) if outs else None


def _after_last(items: list[Any], is_model_turn: Any) -> list[dict[str, Any]]:
    dicts = [i for i in items if isinstance(i, dict)]
    last = max((n for n, i in enumerate(dicts) if is_model_turn(i)), default=-1)
    return dicts[last + 1:]


def _shell_tool(dialect: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, parameter schema) of the first shell-like tool the request offers."""
    offered: dict[str, dict[str, Any]] = {}
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        if dialect == "chat":
            fn = tool.get("function") or {}
            name, schema = fn.get("name"), fn.get("parameters")
        elif dialect == "messages":
            name, schema = tool.get("name"), tool.get("input_schema")
        else:
            name = tool.get("name") if tool.get("type") == "function" else None
            schema = tool.get("parameters")
        if isinstance(name, str):
            offered[name] = schema if isinstance(schema, dict) else {}
    for name in SHELL_TOOLS:
        if name in offered:
            return name, offered[name]
    return None


def _output_schema(dialect: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a structured-output request asks its answer to follow, if any."""
    if dialect == "messages":
        fmt = (body.get("output_config") or {}).get("format") or body.get("output_format")
        schema = fmt.get("schema") if isinstance(fmt, dict) else None
    elif dialect == "chat":
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
    else:
        fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
        schema = fmt.get("schema") if isinstance(fmt, dict) else None
    return schema if isinstance(schema, dict) else None


def _fill(schema: dict[str, Any]) -> dict[str, Any]:
    """An object for a (flat) object schema: its string properties given SIDE_TEXT."""
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    defaults = {"string": SIDE_TEXT, "boolean": False, "integer": 0, "number": 0, "array": []}
    return {k: defaults.get((v or {}).get("type"), SIDE_TEXT) for k, v in props.items()}
