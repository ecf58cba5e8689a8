"""Today's ModelProxy (the code before issue 13) served beside the current one, in the same run.

The old code is checked out with `git worktree add --detach` into the bench's temporary
directory, its data directory is seeded by ITS OWN command line (the current seed.py would
write the current schema), and it is served with PYTHONPATH pointing at it, from the same
venv. `stop` stops the server and removes the worktree. Where the worktree cannot be made
(not a git checkout, or a shallow clone without that commit), `start` returns None and a
reason, and the comparison is skipped: never a pass made up.

`start(..., commit=None)` serves the current code the same way (from this checkout, no
worktree): a fresh server seeded by the same commands, so that the two are compared on
equal footing and not against the bench's main server, which earlier phases have aged
(a log of every request they sent, 1,000 streams' worth of greenlets and buffers freed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import procs
from seed import RPM

REPO = Path(__file__).resolve().parents[2]
BEFORE_ISSUE_13 = "b862825"  # main just before the routes storage (m0008) landed
NAME = "modelproxy-old"


@dataclass(frozen=True)
class OldServer:
    base: str
    pid: int
    token: str
    source: Path  # the worktree with the old code
    name: str  # the child's


def start(children: procs.Children, work: Path, upstream: str, cpus: set[int] | None,
          commit: str | None = BEFORE_ISSUE_13, name: str = NAME
          ) -> tuple[OldServer | None, str]:
    """The old code's server answering, seeded like the current one's `chat` endpoint; or
    (None, why not). `commit` may be any other that has the same command line, or None
    for the code of this checkout."""
    source = REPO if commit is None else work / f"{name}-src"
    if commit is not None:
        made = _git("worktree", "add", "--detach", str(source), commit)
        if made.returncode != 0:
            return None, (f"no worktree of {commit} ({made.stderr.strip()[-200:]}): "
                          f"the comparison with the code before issue 13 is skipped")
    try:
        env = procs.clean_env({"MODELPROXY_LOG_LEVEL": "WARNING", "PYTHONPATH": str(source)})
        data_dir = work / f"{name}-data"
        token = _seed(env, work, data_dir, upstream + "/v1")
        port = procs.free_port()
        server = children.start(name, [sys.executable, "-m", "app.main", "serve", "--port",
                                       str(port), "--data-dir", str(data_dir)],
                                env=env, cwd=work, cpus=cpus)
        children.wait_ready(name, f"http://127.0.0.1:{port}/api/health")
    except BaseException:
        remove(source)
        raise
    return OldServer(f"http://127.0.0.1:{port}", server.pid, token, source, name), ""


def stop(children: procs.Children, server: OldServer) -> None:
    children.stop(server.name)
    remove(server.source)


def remove(source: Path) -> None:
    """The old code's worktree removed (and git's note of it); this checkout is kept."""
    if source == REPO:
        return
    _git("worktree", "remove", "--force", str(source))
    _git("worktree", "prune")


def _seed(env: dict[str, str], work: Path, data_dir: Path, upstream_base: str) -> str:
    """Provider `up`, endpoint `chat` and a token, by the old code's CLI; the token."""
    cli = [sys.executable, "-m", "app.main"]
    store = ["--data-dir", str(data_dir)]

    def run(args: list[str], stdin: str = "") -> str:
        done = subprocess.run(cli + args + store, env=env, cwd=work, input=stdin,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"old code: {' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    run(["provider", "add", "--name", "up", "--type", "openai_compatible", "--base-url",
         upstream_base, "--api-key-stdin"], stdin="sk-bench\n")
    run(["endpoint", "add", "--name", "chat", "--path", "/api/chat", "--kind", "chat",
         "--model", "bench-model", "--provider", "up"])
    created = json.loads(run(["token", "create", "--name", "bench", "--rpm", str(RPM),
                              "--json"]))
    return created["token"]


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                          timeout=120)
