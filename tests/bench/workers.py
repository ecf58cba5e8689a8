"""`serve --workers 2` against one worker: req/s, p50 and CPU time per request.

`.venv/bin/python tests/bench/workers.py [--rounds 3] [--seconds 5]` from the repository
root. A seeded appliance (the offline echo provider, one token, the request log on) is
served in turn by one process and by a supervisor with two workers (with a redis-server of
its own, which `--workers 2` needs), each driven by `wrk -t2 -c32` for a few seconds, in
interleaved rounds (a shared VM's speed drifts). CPU time is the server's processes' user
+ system time during the run, per request: on a 2-core box wrk shares the cores with the
workers, so req/s alone understates what a second worker gives on a larger one. Also
printed: how the connections were shared between the workers (each one's log rows).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.loadgen import ensure_wrk, run_wrk, write_script
from tests.fakes.redis_server import RedisServer
from tests.live import LiveServer
from tests.server.client_fixtures import Appliance, clean_environ

BODY = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]})


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def server_pids(live: LiveServer) -> list[int]:
    pid = live.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def one_run(live: LiveServer, wrk: str, script: Path, seconds: int) -> dict[str, float]:
    pids = server_pids(live)
    before = cpu_seconds(pids)
    result = run_wrk(wrk, live.url + "/v1/chat/completions", script, connections=32,
                     threads=2, seconds=seconds)
    used = cpu_seconds(pids) - before
    return {"rps": result.rps, "p50_ms": result.p50_ms,
            "cpu_ms_per_request": used * 1000 / max(1, result.requests),
            "errors": result.errors}


def rows_per_worker(live: LiveServer) -> dict[str, float]:
    seen: dict[str, float] = {}
    for _ in range(100):
        text = requests.get(live.url + "/metrics", timeout=5).text
        for worker, value in re.findall(
                r'modelproxy_log_rows_written_total\{worker="(\d+)"\} (\S+)', text):
            seen[worker] = float(value)
        if len(seen) == 2:
            break
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        app = Appliance(Path(tmp) / "data")
        app.provider("echo", type="echo")
        app.endpoint("chat", "/api/chat", "echo", model="echo-model")
        script = write_script(Path(tmp) / "chat.lua", app.token("bench").plaintext, BODY)
        app.db.close_all()
        with RedisServer(Path(tmp) / "redis") as redis:
            results: dict[int, list[dict[str, float]]] = {1: [], 2: []}
            shares = {}
            for _ in range(args.rounds):
                for workers in (1, 2):
                    env = {**clean_environ(), "MODELPROXY_LOG_LEVEL": "WARNING",
                           "MODELPROXY_REDIS_URL": redis.url}
                    live = LiveServer(app.data_dir, env=env, workers=workers)
                    live.env = env
                    live.start(timeout=60)
                    try:
                        one_run(live, wrk, script, 2)  # warm-up
                        results[workers].append(one_run(live, wrk, script, args.seconds))
                        if workers == 2:
                            shares = rows_per_worker(live)
                    finally:
                        live.stop()
    print(f"{'':>10} {'req/s':>8} {'p50 ms':>8} {'CPU ms/req':>11} {'errors':>7}")
    for workers, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{workers} worker{'s' if workers > 1 else ' '} {med['rps']:8.0f} "
              f"{med['p50_ms']:8.2f} {med['cpu_ms_per_request']:11.3f} {med['errors']:7.0f}")
    print("log rows per worker in the last 2-worker run:", shares)
    return 0


if __name__ == "__main__":
    sys.exit(main())
