"""gui.connect_snippets: the settings the "Use with…" panel offers, read back as each client
reads them (a shell, TOML, JSON, Python)."""

from __future__ import annotations

import ast
import json
import subprocess
import tomllib

from gui.connect_snippets import (
    NO_MODEL,
    PLACEHOLDER,
    Target,
    claude_code,
    claude_code_env,
    codex,
    model_names,
    snippets,
    token_warning,
)

URL = "http://10.0.0.5:8787"
TOKEN = "mpx_Abc-123_xyz"
ENDPOINTS = [
    {"id": 1, "name": "coder", "kind": "chat", "enabled": True,
     "aliases": ["claude-sonnet-4-5", "gpt-5-codex"]},
    {"id": 2, "name": "embed", "kind": "embeddings", "enabled": True},
    {"id": 3, "name": "fast", "kind": "chat", "enabled": True},
    {"id": 4, "name": "old", "kind": "chat", "enabled": False},
    {"id": 5, "name": "plain", "kind": "chat"},  # no aliases key: today's rows
]


def shell_env(exports: str) -> dict[str, str]:
    """What a shell has after running the lines."""
    done = subprocess.run(["bash", "-c", exports + "env -0"], capture_output=True, check=True,
                          env={"PATH": "/usr/bin:/bin"})
    return dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)


def test_model_names_are_the_chat_endpoints_the_token_may_use_with_their_aliases() -> None:
    assert model_names(ENDPOINTS) == ["coder", "claude-sonnet-4-5", "gpt-5-codex", "fast",
                                      "plain"]
    assert model_names(ENDPOINTS, [3, 2]) == ["fast"]
    assert model_names(ENDPOINTS, []) == model_names(ENDPOINTS)  # no allow-list: all
    assert model_names(ENDPOINTS, [2, 4]) == []


def test_claude_code_exports_set_the_gateway_variables_in_a_shell() -> None:
    target = Target(URL + "/", TOKEN, "coder", "fast")
    exports, settings = claude_code(target)
    env = shell_env(exports.text)
    assert env["ANTHROPIC_BASE_URL"] == URL  # no /v1: Claude Code adds /v1/messages
    assert env["ANTHROPIC_AUTH_TOKEN"] == TOKEN
    assert env["ANTHROPIC_MODEL"] == "coder"
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == env["ANTHROPIC_SMALL_FAST_MODEL"] == "fast"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert json.loads(settings.text) == {"env": claude_code_env(target)}
    assert "settings.json" in settings.caption


def test_the_placeholder_survives_the_shell_and_the_fast_model_defaults_to_the_model() -> None:
    env = shell_env(claude_code(Target(URL, None, "coder"))[0].text)
    assert env["ANTHROPIC_AUTH_TOKEN"] == PLACEHOLDER
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "coder"


def test_codex_config_is_a_responses_provider_reading_the_token_from_the_environment() -> None:
    config, export = codex(Target(URL, TOKEN, "coder"))
    parsed = tomllib.loads(config.text)
    assert parsed["model"] == "coder" and parsed["model_provider"] == "modelproxy"
    assert parsed["model_providers"]["modelproxy"] == {
        "name": "ModelProxy", "base_url": f"{URL}/v1", "env_key": "MODELPROXY_TOKEN",
        "wire_api": "responses"}
    assert TOKEN not in config.text  # the secret stays out of the file
    assert shell_env(export.text)["MODELPROXY_TOKEN"] == TOKEN


def calls(code: str) -> dict[str, dict[str, object]]:
    """Each call in the code by its dotted name, with its literal keyword arguments."""
    found = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            found[ast.unparse(node.func)] = {
                k.arg: ast.literal_eval(k.value) for k in node.keywords
                if isinstance(k.value, ast.Constant)}
    return found


def test_sdk_examples_are_python_that_names_the_server_and_the_endpoint() -> None:
    tabs = snippets(Target(URL, TOKEN, "coder"))
    openai = calls(tabs["OpenAI SDK"][1].text)
    assert openai["OpenAI"]["base_url"] == f"{URL}/v1"
    assert openai["client.chat.completions.create"]["model"] == "coder"
    assert openai["client.responses.create"]["model"] == "coder"
    anthropic = calls(tabs["Anthropic SDK"][1].text)
    assert anthropic["Anthropic"]["base_url"] == URL
    assert anthropic["client.messages.create"]["model"] == "coder"
    for tab in ("OpenAI SDK", "Anthropic SDK"):
        assert shell_env(tabs[tab][0].text)["MODELPROXY_TOKEN"] == TOKEN


def test_every_tab_and_a_token_with_no_chat_endpoint() -> None:
    tabs = snippets(Target(URL))
    assert list(tabs) == ["Claude Code", "Codex", "OpenAI SDK", "Anthropic SDK"]
    text = "".join(s.text for sections in tabs.values() for s in sections)
    assert NO_MODEL in text and PLACEHOLDER in text and "mpx_" not in text


def test_token_warning_says_when_the_server_will_refuse() -> None:
    assert token_warning({"scopes": ["all"]}) is None
    assert token_warning({"scopes": ["chat", "models"]}) is None
    assert "scopes" in token_warning({"scopes": ["embeddings"]})
    assert "revoked" in token_warning({"scopes": ["all"]}, "revoked")
    assert token_warning(None) is None
