"""Driving a target with wrk: install it if missing, POST a JSON chat body, read the summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MARK = "BENCH_JSON "
CHAT_BODY = json.dumps({"model": "chat", "max_tokens": 16,
                        "messages": [{"role": "user", "content": "Say hello"}]})

# The summary comes from wrk's own `done` hook, so nothing is parsed from its text report.
LUA = """\
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
wrk.headers["Content-Type"] = "application/json"
%(auth)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,' ..
    '"mean_us":%%.1f,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: int  # non-2xx/3xx answers plus socket errors

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def ensure_wrk() -> str:
    """The wrk binary; installs the Debian package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is still missing after apt-get install wrk")
    return found


def write_script(path: Path, token: str | None, body: str = CHAT_BODY) -> Path:
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    path.write_text(LUA % {"body": body, "auth": auth, "mark": MARK})
    return path


def run_wrk(wrk: str, url: str, script: Path, connections: int, threads: int,
            seconds: int) -> WrkResult:
    """One wrk run of `seconds` (whole: wrk takes no fractions) against `url`, which must
    be on 127.0.0.1; returns its summary."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only sends traffic to 127.0.0.1, not {url}")
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--latency",
            "--timeout", "10s", "-s", str(script), url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            return _result(json.loads(line[len(MARK):]))
    raise RuntimeError(f"wrk gave no summary (exit {done.returncode}):\n"
                       f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def _result(raw: dict) -> WrkResult:
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(requests=raw["requests"], duration_s=raw["duration_us"] / 1e6,
                     p50_ms=raw["p50_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
                     mean_ms=raw["mean_us"] / 1000, errors=errors)
