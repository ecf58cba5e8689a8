"""The fake upstream's script hook: a test decides what the "model" answers.

    def brain(dialect: str, body: dict) -> Turn:
        return Turn(tool_calls=[("call_1", "Bash", {"command": "ls"})])

    with FakeUpstream(script=brain) as fake: ...

Every chat / messages / responses answer (whole or streamed) is then built from the Turn
the script returns, in that dialect's own shape. Without a script the Turn is the echo of
the last user text ("echo: <text>"), as the chat answers have always been.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Turn:
    """One answer of the model: its text, then its tool calls (id, name, arguments)."""

    text: str = ""
    tool_calls: list[tuple[str, str, dict]] = field(default_factory=list)
    # Prompt tokens the provider says it read from its prompt cache (at most the prompt's):
    # prompt_tokens_details.cached_tokens, cache_read_input_tokens, input_tokens_details.
    cached: int = 0


Script = Callable[[str, dict], Turn]  # (dialect: "chat"|"messages"|"responses", body) -> Turn

DIALECTS = ("chat", "messages", "responses")


def text_of(content: Any) -> str:
    """A content string, or the text parts of a content list (any dialect's text parts)."""
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content
                        if isinstance(p, dict) and isinstance(p.get("text", ""), str))
    return content if isinstance(content, str) else ""


def user_texts(dialect: str, body: dict[str, Any]) -> list[str]:
    """The texts of the user's messages (Responses: of its input items), in order."""
    if dialect == "responses":
        items = body.get("input")
        if isinstance(items, str):
            return [items]
        messages = [i for i in items or [] if isinstance(i, dict)
                    and i.get("type", "message") == "message"]
    else:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    return [text_of(m.get("content")) for m in messages if m.get("role") == "user"]


def all_texts(dialect: str, body: dict[str, Any]) -> list[str]:
    """Every text of the request (system prompt included), to count its words."""
    if dialect == "responses":
        items = body.get("input")
        items = [{"content": items}] if isinstance(items, str) else items or []
        texts = [str(body.get("instructions") or "")]
    else:
        items = body.get("messages") or []
        texts = [text_of(body.get("system"))]
    texts += [text_of(i.get("content")) for i in items if isinstance(i, dict)]
    return texts


def echo_turn(dialect: str, body: dict[str, Any]) -> Turn:
    users = user_texts(dialect, body)
    return Turn("echo: " + (users[-1] if users else ""))


def turn_for(script: Script | None, dialect: str, body: dict[str, Any]) -> Turn:
    """The Turn that answers `body`: the script's, else the echo."""
    return script(dialect, body) if script is not None else echo_turn(dialect, body)


def cached_of(turn: Turn, prompt: int) -> int:
    """The turn's cached prompt tokens, as a provider counts them (never past the prompt)."""
    return min(max(turn.cached, 0), prompt)


def words(texts: list[str]) -> int:
    return max(1, sum(len(t.split()) for t in texts))


def output_words(turn: Turn) -> int:
    """The "tokens" of an answer: its words, plus those of its tool calls' arguments."""
    return len(turn.text.split()) + sum(1 + len(json.dumps(args).split())
                                        for _, _, args in turn.tool_calls)
