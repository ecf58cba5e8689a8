"""Copy-ready settings that point a coding agent or an SDK at this server with a token.

Pure: no Qt, no I/O. The window passes what it knows (the server's address, the endpoint
rows, the token's row and, only right after it was issued, its plaintext); the secret is
never stored, so later the text carries PLACEHOLDER instead.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = "<your token>"
NO_MODEL = "<endpoint>"  # when the token may use no chat endpoint
TOKEN_VARIABLE = "MODELPROXY_TOKEN"  # Codex's env_key, and what the SDK examples read
PROVIDER_ID = "modelproxy"  # Codex's model_providers key


@dataclass(frozen=True)
class Section:
    """One block to copy: what it is and its text."""

    caption: str
    text: str


@dataclass(frozen=True)
class Target:
    """What the snippets are for: the server's address, the token, the models to name."""

    base_url: str
    token: str | None = None  # the plaintext; None once it is no longer known
    model: str = NO_MODEL
    fast_model: str | None = None  # Claude Code's background model; default: `model`

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def secret(self) -> str:
        return self.token or PLACEHOLDER

    @property
    def fast(self) -> str:
        return self.fast_model or self.model


def model_names(endpoints: Iterable[Mapping[str, Any]],
                allowed_ids: Iterable[int] | None = None) -> list[str]:
    """The `model` names a token may send: each enabled chat endpoint it may call (its
    allow-list, or every one when the list is empty), by name and then by its aliases."""
    allowed = set(allowed_ids or ())
    names: list[str] = []
    for endpoint in endpoints:
        if endpoint.get("kind") != "chat" or not endpoint.get("enabled", True):
            continue
        if allowed and endpoint.get("id") not in allowed:
            continue
        for name in [endpoint.get("name"), *(endpoint.get("aliases") or [])]:
            if name and name not in names:
                names.append(str(name))
    return names


def token_warning(row: Mapping[str, Any] | None, status: str = "active") -> str | None:
    """Why these settings will be refused with this token, if they will."""
    if row is None:
        return None
    if status != "active":
        return f"This token is {status}: the server refuses it."
    scopes = set(row.get("scopes") or ["all"])
    if not scopes & {"chat", "all"}:
        return "This token's scopes do not include chat: the server refuses these clients."
    return None


# --- Claude Code -------------------------------------------------------------------------------

def claude_code_env(target: Target) -> dict[str, str]:
    """Claude Code's settings for an LLM gateway. Its base URL has no /v1 (it adds
    /v1/messages itself); the token goes as a bearer token, which the server takes."""
    return {
        "ANTHROPIC_BASE_URL": target.root,
        "ANTHROPIC_AUTH_TOKEN": target.secret,
        "ANTHROPIC_MODEL": target.model,
        # Its built-in subagents ask for "sonnet", "opus" and "haiku": all reach an endpoint.
        "ANTHROPIC_DEFAULT_SONNET_MODEL": target.model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": target.model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": target.fast,
        "ANTHROPIC_SMALL_FAST_MODEL": target.fast,  # the older name of the one above
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def export_lines(env: Mapping[str, str]) -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def claude_code(target: Target) -> list[Section]:
    env = claude_code_env(target)
    settings = json.dumps({"env": env}, indent=2) + "\n"
    return [Section("In the shell that runs claude:", export_lines(env)),
            Section("Or for good, in ~/.claude/settings.json (merge into what is there):",
                    settings)]


# --- Codex CLI ---------------------------------------------------------------------------------

def toml_string(value: str) -> str:
    return json.dumps(value)  # a TOML basic string: same escapes as JSON for these values


def codex_config(target: Target) -> str:
    return (f"model = {toml_string(target.model)}\n"
            f"model_provider = {toml_string(PROVIDER_ID)}\n"
            # OpenAI's hosted web search: only a provider speaking Responses (openai) has
            # it; elsewhere the server refuses it by name rather than drop it unsaid.
            'web_search = "disabled"\n'
            "\n"
            f"[model_providers.{PROVIDER_ID}]\n"
            'name = "ModelProxy"\n'
            f"base_url = {toml_string(target.root + '/v1')}\n"
            f"env_key = {toml_string(TOKEN_VARIABLE)}\n"
            'wire_api = "responses"\n')


def token_export(target: Target) -> str:
    return export_lines({TOKEN_VARIABLE: target.secret})


def codex(target: Target) -> list[Section]:
    return [Section("In ~/.codex/config.toml (top-level keys before any [table]):",
                    codex_config(target)),
            Section("In the shell that runs codex:", token_export(target))]


# --- SDKs --------------------------------------------------------------------------------------

def openai_sdk(target: Target) -> list[Section]:
    code = (
        "import os\n"
        "from openai import OpenAI\n"
        "\n"
        f"client = OpenAI(base_url={json.dumps(target.root + '/v1')},\n"
        f'                api_key=os.environ["{TOKEN_VARIABLE}"])\n'
        "reply = client.chat.completions.create(\n"
        f"    model={json.dumps(target.model)},\n"
        '    messages=[{"role": "user", "content": "Hello!"}])\n'
        "print(reply.choices[0].message.content)\n"
        "\n"
        f"response = client.responses.create(model={json.dumps(target.model)}, "
        'input="Hello!")\n'
        "print(response.output_text)\n")
    return [Section("The token, in the shell that runs Python:", token_export(target)),
            Section("Python (pip install openai):", code)]


def anthropic_sdk(target: Target) -> list[Section]:
    code = (
        "import os\n"
        "from anthropic import Anthropic\n"
        "\n"
        f"client = Anthropic(base_url={json.dumps(target.root)},\n"
        f'                   api_key=os.environ["{TOKEN_VARIABLE}"])\n'
        "message = client.messages.create(\n"
        f"    model={json.dumps(target.model)}, max_tokens=1024,\n"
        '    messages=[{"role": "user", "content": "Hello!"}])\n'
        "print(message.content[0].text)\n")
    return [Section("The token, in the shell that runs Python:", token_export(target)),
            Section("Python (pip install anthropic):", code)]


def snippets(target: Target) -> dict[str, list[Section]]:
    """Every client's settings, by the name of its tab."""
    return {"Claude Code": claude_code(target), "Codex": codex(target),
            "OpenAI SDK": openai_sdk(target), "Anthropic SDK": anthropic_sdk(target)}
