"""The real coding agents complete a task that needs a tool call, through ModelProxy.

Claude Code and Codex (the versions tests/agents/package-lock.json pins, `make agents`) each
run once per upstream dialect: an OpenAI-compatible provider (chat) and an anthropic provider
(messages), both the fake upstream driven by tests/agents/brain.py, behind `modelproxy serve`.
"direct" runs each CLI against the fake itself: when only those pass, the fault is the
server's, not the harness's. Every run happens inside a network namespace with only loopback
(the CLIs try to reach outside services), made here; skipped where `ip netns` is unavailable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agents import brain
from tests.agents.scenario import BIN, MODEL

ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 120  # seconds per CLI run; the scenario gets a minute more to start and stop
CLIENT_DIALECT = {"claude": "messages", "codex": "responses"}
UPSTREAM_PATH = {"chat": "POST /v1/chat/completions", "messages": "POST /v1/messages",
                 "direct": None}


def _netns_unavailable() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "`ip netns` needs root (the agents run in a loopback-only network namespace)"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed: no network namespace for the agents"
    return None


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """A network namespace with only loopback, up; deleted afterwards."""
    if reason := _netns_unavailable():
        pytest.skip(reason)
    name = f"mpx-agents-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"`ip netns add` failed here: {made.stderr.strip()}")
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def run_scenario(netns: str, agent: str, upstream: str, root: Path) -> dict[str, Any]:
    if not (BIN / agent).exists():
        pytest.skip(f"{agent} is not installed: run `make agents`")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]).rstrip(os.pathsep)}
    command = ["ip", "netns", "exec", netns, sys.executable, "-m", "tests.agents.scenario",
               "--agent", agent, "--upstream", upstream, "--root", str(root),
               "--timeout", str(CLI_TIMEOUT)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT + 60)
    assert done.returncode == 0, f"the scenario runner failed:\n{done.stdout}\n{done.stderr}"
    return json.loads((root / "result.json").read_text())


def summary(result: dict[str, Any]) -> str:
    """What a failing assertion shows: enough to tell the CLI's, server's or fake's fault."""
    logs = [(r.get("status"), r.get("model"), r.get("error")) for r in result["logs"]]
    return (f"\nexit: {result['exit']}\nstdout:\n{result['stdout'][-3000:]}\n"
            f"stderr:\n{result['stderr'][-3000:]}\nlog rows (status, model, error): {logs}\n"
            f"fake upstream got: {result['upstream_requests']}\n"
            f"server output:\n{result['server_output'][-3000:]}")


@pytest.mark.timeout(CLI_TIMEOUT + 120)
@pytest.mark.parametrize("upstream", ["direct", "chat", "messages"])
@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_agent_completes_a_tool_task(netns: str, agent: str, upstream: str,
                                     tmp_path: Path) -> None:
    result = run_scenario(netns, agent, upstream, tmp_path)
    why = summary(result)
    assert result["exit"] == 0, why
    assert result["proof"] == brain.PROOF_TEXT + "\n", why  # the tool call really ran
    assert "DONE" in result["stdout"], why  # the answer to the tool result reached the CLI
    if (path := UPSTREAM_PATH[upstream]) is not None:
        assert any(r.startswith(path) for r in result["upstream_requests"]), why
        check_log_rows(result, agent, upstream, why)


def check_log_rows(result: dict[str, Any], agent: str, upstream: str, why: str) -> None:
    """At least the tool-call turn and the DONE turn, all 200, for the agent's endpoint."""
    rows = result["logs"]
    assert len(rows) >= 2, why
    assert all(r["status"] == 200 for r in rows), why
    assert all(r["model"] in (MODEL, "fake-model") for r in rows), why
    for row in rows:  # the columns issue 12 adds, checked once the log has them
        if "client_dialect" in row:
            assert row["client_dialect"] == CLIENT_DIALECT[agent], why
        if "provider_dialect" in row:
            assert row["provider_dialect"] == upstream, why
        if "agent_session" in row:
            assert row["agent_session"], why
