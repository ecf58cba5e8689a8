"""A served appliance for the coding-agent dialects (tests/server/test_dialect_*.py): one
fake upstream behind three providers, so each client dialect meets each provider dialect.

Endpoints (name, aliases, provider, its dialects):
- `coder`   (alias `claude-sonnet-4-5`)  `fake`   openai_compatible  chat
- `claude`                                `claude` anthropic          messages
- `oai`                                   `oai`    openai             chat, responses

The fake upstream runs `script` (tests/fakes: a Turn per request): echo, or the tool call a
test asked for with `call_tool_next`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.script import Turn
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import UPSTREAM_KEY, Appliance, IssuedToken


@dataclass
class Script:
    """The fake upstream's replies: echo of the last user text, or a queued tool call."""

    tool_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, dialect: str, body: dict[str, Any]) -> Turn:
        self.seen.append((dialect, body))
        if self.tool_calls:
            calls, self.tool_calls = self.tool_calls, []
            return Turn(text="", tool_calls=calls)
        return Turn(text="echo: " + last_user_text(dialect, body))


def last_user_text(dialect: str, body: dict[str, Any]) -> str:
    """The text of the last user message or tool result, in any dialect's request."""
    items = body.get("messages") if dialect != "responses" else body.get("input")
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if item.get("role") in ("user", "tool") or item.get("type") == "function_call_output":
            content = item.get("content", item.get("output"))
            return content if isinstance(content, str) else _texts(content)
    return ""


def _texts(content: Any) -> str:
    texts = []
    for part in content or []:
        inner = part.get("content")
        if isinstance(inner, list):
            texts.append(_texts(inner))
        elif isinstance(inner, str):
            texts.append(inner)
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    return "".join(texts)


@dataclass
class DialectGateway:
    appliance: Appliance
    fake: FakeUpstream
    script: Script
    token: IssuedToken

    @property
    def url(self) -> str:
        return self.appliance.url


def build(data_dir: Path, fake: FakeUpstream, script: Script) -> DialectGateway:
    app = Appliance(data_dir)
    app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
    app.provider("claude", type="anthropic", base_url=fake.base_url, api_key=UPSTREAM_KEY)
    app.provider("oai", type="openai", base_url=fake.base_url, api_key=UPSTREAM_KEY)
    app.endpoint("coder", "/api/coder", "fake", aliases=["claude-sonnet-4-5"])
    app.endpoint("claude", "/api/claude", "claude", model="claude-upstream")
    app.endpoint("oai", "/api/oai", "oai", model="gpt-4o")
    token = app.token("agent", scopes=["chat", "models"])
    app.serve()
    return DialectGateway(app, fake, script, token)


@pytest.fixture(scope="module")
def _dialects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DialectGateway]:
    script = Script()
    with FakeUpstream(script=script) as fake:
        built = build(tmp_path_factory.mktemp("dialects"), fake, script)
        # The server checks its three providers at start (GET /v1/models each): done before
        # the tests, which assert what reached the fake upstream.
        fake.wait_until(lambda f: sum(r.path.endswith("/models") for r in f.requests) >= 3,
                        timeout=10)
        try:
            yield built
        finally:
            built.appliance.close()


@pytest.fixture
def dialects(_dialects: DialectGateway) -> DialectGateway:
    _dialects.fake.reset()
    _dialects.fake.clear()
    _dialects.script.tool_calls.clear()
    _dialects.script.seen.clear()
    return _dialects
