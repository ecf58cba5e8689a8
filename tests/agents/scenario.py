"""One real coding agent on one task, through `modelproxy serve`, to a scripted fake upstream.

    ip netns exec NS python -m tests.agents.scenario --agent claude --upstream chat --root DIR

Run inside a loopback-only network namespace (tests/agents/test_agents.py makes one), so the
fake upstream, the server and the CLI share it and the CLI reaches nothing else. Under DIR:
data/ (the server's), home/ (the CLI's HOME), work/ (its working directory, where the task
writes proof.txt) and result.json: the CLI's exit status and output, the request log's rows,
the server's output and the requests the fake received.

--upstream: chat (an openai_compatible provider), messages (an anthropic provider), or
direct (no server: the CLI talks to the fake itself; checks the harness and the brain).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from gui import connect_snippets
from tests.agents import brain
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import Appliance

BIN = Path(__file__).parent / "node_modules" / ".bin"
AGENTS = ("claude", "codex")
UPSTREAMS = ("direct", "chat", "messages")
MODEL = "mpx-agent"  # the endpoint's name: what the CLI is told to ask for
TASK = f"Use your shell tool to run `{brain.PROOF_COMMAND}`, then report its output."
PROVIDER_TYPES = {"chat": "openai_compatible", "messages": "anthropic"}


def claude_command(base_url: str, token: str, home: Path) -> tuple[list[str], dict[str, str]]:
    """Claude Code with the settings the window's "Use with…" panel gives (the README's)."""
    env = {**connect_snippets.claude_code_env(connect_snippets.Target(base_url, token, MODEL)),
           "CLAUDE_CODE_MAX_RETRIES": "1", "DISABLE_AUTOUPDATER": "1",
           "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1"}
    # As root Claude Code refuses --dangerously-skip-permissions: allow the one tool instead.
    return [str(BIN / "claude"), "-p", TASK, "--allowedTools", "Bash"], env


def codex_command(base_url: str, token: str, home: Path) -> tuple[list[str], dict[str, str]]:
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config(base_url, token))
    env = {"CODEX_HOME": str(codex_home), connect_snippets.TOKEN_VARIABLE: token}
    return [str(BIN / "codex"), "exec", "--skip-git-repo-check", "-s", "danger-full-access",
            TASK], env


def codex_config(base_url: str, token: str) -> str:
    """The provider block the "Use with…" panel gives (the README's), its retries kept
    short here (the provider table is the file's last, so the keys land in it)."""
    target = connect_snippets.Target(base_url, token, MODEL)
    return (connect_snippets.codex_config(target)
            + "request_max_retries = 1\nstream_max_retries = 1\n")


COMMANDS = {"claude": claude_command, "codex": codex_command}


def run_cli(command: list[str], env: dict[str, str], cwd: Path, home: Path,
            timeout: float) -> dict[str, Any]:
    """Run the CLI (its own process group, so a timeout ends its shells too)."""
    base = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb"}
    proc = subprocess.Popen(command, cwd=cwd, env={**base, **env}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        status: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        status = f"timeout after {timeout} s"
    return {"exit": status, "stdout": out, "stderr": err[-8000:]}


def serve(root: Path, upstream: str, fake: FakeUpstream) -> tuple[Appliance, str]:
    """A seeded appliance (provider, endpoint MODEL, token), served; and the token."""
    app = Appliance(root / "data")
    app.provider("fake", type=PROVIDER_TYPES[upstream], base_url=fake.base_url,
                 api_key="sk-fake-upstream-1234")
    app.endpoint(MODEL, f"/api/{MODEL}", "fake", model="fake-model")
    token = app.token("agent").plaintext
    app.serve()
    return app, token


def scenario(agent: str, upstream: str, root: Path, timeout: float) -> dict[str, Any]:
    home, work = root / "home", root / "work"
    home.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"agent": agent, "upstream": upstream, "logs": [],
                              "server_output": ""}
    with FakeUpstream(script=brain.script) as fake:
        app, token = (None, "mpx_direct") if upstream == "direct" else serve(root, upstream, fake)
        try:
            base_url = fake.url if app is None else app.url
            command, env = COMMANDS[agent](base_url, token, home)
            result.update(run_cli(command, env, work, home, timeout))
        finally:
            if app is not None:
                app.stop()
                result["server_output"] = app.live.output[-8000:]
                result["logs"] = app.cli_json("logs", "--limit", "0")["items"]
                app.close()
        result["upstream_requests"] = [f"{r.method} {r.path}" for r in fake.requests]
    proof = work / brain.PROOF_FILE
    result["proof"] = proof.read_text() if proof.exists() else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", choices=AGENTS, required=True)
    parser.add_argument("--upstream", choices=UPSTREAMS, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    result = scenario(args.agent, args.upstream, args.root, args.timeout)
    (args.root / "result.json").write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
