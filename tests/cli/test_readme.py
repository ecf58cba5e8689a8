"""The README's shell examples, followed top to bottom as a new user would: the quick start
(admin, provider, endpoints, token; then the server and its calls), then the Admin API
section on the same data directory. The setup-code example runs where it says it applies,
on a data directory with no admin. Each curl must get a 2xx answer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.live import LiveServer

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = ("make ", ". .venv/")  # the checkout's own venv: the tests run in one already
# curl as a person reads its output: an HTTP error answer is a failure, not text to skim.
PRELUDE = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown, re.S)


def run(block: str, cwd: Path, port: int, **env: str) -> str:
    script = "\n".join(line for line in block.replace("127.0.0.1:8787", f"127.0.0.1:{port}")
                       .splitlines() if not line.startswith(SKIPPED))
    bin_dir = cwd / "bin"  # `modelproxy` as the installed script is: this checkout's code
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "modelproxy"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m app.main "$@"\n')
    shim.chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", PRELUDE + script], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
             "PYTHONPATH": str(ROOT), "MODELPROXY_BCRYPT_ROUNDS": "4", **env})
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done.stdout


def test_the_readme_followed_top_to_bottom_works(tmp_path: Path) -> None:
    blocks = shell_blocks((ROOT / "README.md").read_text())
    setup, calls = blocks[1], blocks[2]
    admin_api = next(b for b in blocks if "/admin/api/login" in b)
    first_admin = next(b for b in blocks if "setup-code" in b)
    assert "token create" in setup and "TOKEN=" in calls
    token = run(setup, tmp_path, 0).strip().splitlines()[-1]
    assert token.startswith("mpx_")
    server = LiveServer(tmp_path / "data")  # `make run`: ./data, seen from the same folder
    with server:
        said = run(calls.replace("TOKEN=mpx_...", f"TOKEN={token}"), tmp_path, server.port)
        assert '"content"' in said and "data: [DONE]" in said
        said = run(admin_api, tmp_path, server.port)
        assert '"token": "mpx_' in said.replace('":"', '": "')
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with LiveServer(fresh / "data") as server:
        said = run(first_admin, fresh, server.port)
        assert '"username"' in said
