"""The scripted agent brain on the real agents' captured requests (tests/agents/captures/:
Claude Code 2.1.197 and Codex 0.171.0, recorded in a loopback-only netns) and on the chat
shape the gateway sends an OpenAI-compatible provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agents.brain import PROOF_COMMAND, PROOF_TEXT, SIDE_TEXT, script, shell_arguments

CAPTURES = Path(__file__).parent / "captures"


def body(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / f"{name}.json").read_text())["body"]


def test_claude_code_first_turn_calls_bash_with_a_command_string() -> None:
    turn = script("messages", body("claude_code-turn1"))
    assert turn.text == ""
    [(call_id, name, args)] = turn.tool_calls
    assert call_id.startswith("toolu_") and name == "Bash"
    assert args == {"command": PROOF_COMMAND}


def test_claude_code_tool_result_turn_is_done_with_the_result() -> None:
    turn = script("messages", body("claude_code-turn2"))
    assert turn.tool_calls == [] and turn.text == f"DONE: {PROOF_TEXT}"


def test_claude_code_title_request_gets_json_of_its_schema() -> None:
    turn = script("messages", body("claude_code-title"))
    assert turn.tool_calls == [] and json.loads(turn.text) == {"title": SIDE_TEXT}


def test_codex_first_turn_calls_exec_command_with_cmd() -> None:
    [(call_id, name, args)] = script("responses", body("codex-turn1")).tool_calls
    assert call_id.startswith("call_") and name == "exec_command"
    assert args == {"cmd": PROOF_COMMAND}


def test_codex_function_call_output_turn_is_done() -> None:
    turn = script("responses", body("codex-turn2"))
    assert turn.tool_calls == [] and turn.text.startswith("DONE: ")
    assert turn.text.rstrip().endswith(PROOF_TEXT)


def test_codex_shell_tool_with_an_argv_command() -> None:
    argv = {"type": "array", "items": {"type": "string"}}
    tools = [{"type": "function", "name": "shell",
              "parameters": {"type": "object", "properties": {"command": argv}}}]
    [(_, name, args)] = script("responses", {"input": "go", "tools": tools}).tool_calls
    assert name == "shell" and args == {"command": ["bash", "-lc", PROOF_COMMAND]}


CHAT_TOOLS = [{"type": "function", "function": {"name": "Bash", "parameters": {
    "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]


def test_chat_request_offering_bash_gets_a_call() -> None:
    chat = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "go"}],
            "tools": CHAT_TOOLS}
    [(_, name, args)] = script("chat", chat).tool_calls
    assert name == "Bash" and args == {"command": PROOF_COMMAND}


def test_chat_tool_message_after_the_call_is_done_even_with_a_user_note_after_it() -> None:
    chat = {"tools": CHAT_TOOLS, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function",
             "function": {"name": "Bash", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "out"}]},
        {"role": "user", "content": "<system-reminder>x</system-reminder>"}]}
    assert script("chat", chat).text == "DONE: out"


def test_an_old_tool_result_before_the_last_assistant_turn_does_not_count() -> None:
    chat = {"tools": CHAT_TOOLS, "messages": [
        {"role": "tool", "tool_call_id": "a", "content": "old"},
        {"role": "assistant", "content": "hi"}, {"role": "user", "content": "again"}]}
    assert script("chat", chat).tool_calls


def test_side_requests_without_tools_get_short_text() -> None:
    assert script("chat", {"messages": [{"role": "user", "content": "quota"}]}).text == SIDE_TEXT
    assert script("messages", {"messages": [{"role": "user", "content": "hi"}]}).text == SIDE_TEXT
    chat_json = {"messages": [], "response_format": {"type": "json_schema", "json_schema": {
        "name": "t", "schema": {"type": "object", "properties": {"title": {"type": "string"}}}}}}
    assert json.loads(script("chat", chat_json).text) == {"title": SIDE_TEXT}


def test_shell_arguments_default_to_a_command_string() -> None:
    assert shell_arguments({}) == {"command": PROOF_COMMAND}
