"""Issue 15's measurements: what keeping limits in Redis costs one worker, and what a second
worker gives (`--only scale`).

Four `modelproxy serve` processes on one seeded data directory, all at once, with a
redis-server of the bench's own on a free port (tests/fakes/redis_server.py, on the
other CPUs with wrk and the upstream):
- `memory`: one worker, limits in its memory (no MODELPROXY_REDIS_URL), on the proxies'
  CPU, and `redis`: the same with MODELPROXY_REDIS_URL, on the same CPU. Both are driven
  with the same token, `bench-limited` (seed.limited_token): an rpm and monthly request
  and token quotas, all too high to refuse, so every request makes its Redis decision
  (one admit script, then one settle, off the answer's path). req/s at c=32 and p50 at
  c=1 (with the upstream direct in the same rounds), interleaved rounds.
- `workers-1` (`--workers 1`) and `workers-2` (`--workers 2`), both with Redis and the same
  token, on every CPU (not pinned: a second worker needs the second core, which wrk and
  the upstream share on a 2-core box): req/s at c=32, interleaved rounds.
Every server's CPU time per request is read from /proc during its c=32 runs: the
supervisor's and its workers' summed under `--workers 2`; redis-server's beside it.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import loadgen
import procs
from phases import say
from rounds import Runner, Series, interleaved
from seed import Failing, limited_token, seed

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.fakes.redis_server import RedisServer  # the repository root, just above

CHAT = "/v1/chat/completions"
MEMORY, REDIS, ONE, TWO = "memory", "redis", "workers-1", "workers-2"
PINNED = [MEMORY, REDIS]  # on the proxies' CPU, like every other proxy in the bench
SCALING = [ONE, TWO]  # on every CPU
REDIS_PROCESS = "redis-server"


@dataclass(frozen=True)
class Server:
    base: str
    pid: int  # the one process, or the supervisor under --workers N


@dataclass
class ScaleMeasured:
    throughput: dict[str, Series]
    latency: dict[str, Series]
    # Per round, us of CPU per request: each server's processes, and redis-server's
    # during that server's run (under the name f"{server} {REDIS_PROCESS}").
    cpu_us: dict[str, list[float]] = field(default_factory=dict)
    workers_seen: dict[str, int] = field(default_factory=dict)  # processes CPU was read of
    rows_by_worker: dict[str, float] = field(default_factory=dict)  # --workers 2's log rows


def server_pids(pid: int) -> list[int]:
    """A server's processes: itself and its children (the supervisor's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def rows_by_worker(base: str, workers: int) -> dict[str, float]:
    """The log rows each worker wrote (its `modelproxy_log_rows_written_total`, which only
    the answering worker reports: scraped until every worker has answered once), which
    shows how the connections were shared."""
    seen: dict[str, float] = {}
    for _ in range(100):
        with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
            text = answer.read().decode()
        for worker, value in re.findall(
                r'modelproxy_log_rows_written_total\{worker="(\d+)"\} (\S+)', text):
            seen[worker] = float(value)
        if len(seen) == workers:
            break
    return seen


def cpu_seconds(pids: list[int]) -> float:
    return sum(procs.cpu_seconds(pid) for pid in pids)


def measure(wrk: str, children: procs.Children, work: Path, upstream: str,
            failing: Failing, cpus: set[int] | None, rounds: int, seconds: int,
            latency_seconds: int) -> ScaleMeasured:
    """Start redis-server and the four servers, measure, stop them (children stops any
    left on an error)."""
    data_dir = work / "scale"
    seed(data_dir, upstream + "/v1", failing)
    token = limited_token(data_dir)
    # Every CPU: the proxies' and this process's (pinned to the others, which its children
    # would inherit: --workers 2 would then share one CPU with wrk, the upstream and Redis).
    every = None if cpus is None else cpus | os.sched_getaffinity(0)
    with RedisServer(work / "scale-redis") as redis:
        servers = {
            MEMORY: _start(children, MEMORY, data_dir, None, 1, cpus),
            REDIS: _start(children, REDIS, data_dir, redis.url, 1, cpus),
            ONE: _start(children, ONE, data_dir, redis.url, 1, every),
            TWO: _start(children, TWO, data_dir, redis.url, 2, every),
        }
        try:
            measured = _measure(wrk, work, upstream, servers, token, redis.pid, rounds,
                                seconds, latency_seconds)
            measured.rows_by_worker = rows_by_worker(servers[TWO].base, 2)
        finally:
            for name in servers:
                children.stop(f"scale-{name}")
    for name in servers:
        cpu = statistics.median(measured.cpu_us[name])
        say(f"scale      {name:<9} {measured.throughput[name].rps:7.0f} req/s c=32, CPU "
            f"{cpu:.0f} us/request ({measured.workers_seen[name]} processes)"
            + (f", p50 c=1 {measured.latency[name].p50_ms:.3f} ms" if name in PINNED else ""))
    say(f"scale      {TWO}'s log rows by worker: {measured.rows_by_worker}")
    return measured


def _start(children: procs.Children, name: str, data_dir: Path, redis_url: str | None,
           workers: int, cpus: set[int] | None) -> Server:
    port = procs.free_port()
    env = {"MODELPROXY_LOG_LEVEL": "WARNING"}
    if redis_url:
        env["MODELPROXY_REDIS_URL"] = redis_url
    argv = [sys.executable, "-m", "app.main", "serve", "--port", str(port), "--data-dir",
            str(data_dir)]
    if name != MEMORY and name != REDIS:  # `--workers 1` said, as an operator would
        argv += ["--workers", str(workers)]
    proc = children.start(f"scale-{name}", argv, env=procs.clean_env(env),
                          cwd=data_dir.parent, cpus=cpus)
    children.wait_ready(f"scale-{name}", f"http://127.0.0.1:{port}/api/health", timeout=60)
    return Server(f"http://127.0.0.1:{port}", proc.pid)


def _measure(wrk: str, work: Path, upstream: str, servers: dict[str, Server], token: str,
             redis_pid: int, rounds: int, seconds: int, latency_seconds: int
             ) -> ScaleMeasured:
    script = loadgen.write_script(work / "scale.lua", token)
    urls = {name: s.base + CHAT for name, s in servers.items()}
    scripts = dict.fromkeys(servers, script)
    measured = ScaleMeasured({}, {})
    run = _runner(wrk, urls, scripts, 32, 2, servers, redis_pid, measured)
    measured.throughput = interleaved(run, [*PINNED, *SCALING], rounds, seconds, warmup_s=2)
    for name in measured.cpu_us:  # the warm-up runs left out
        measured.cpu_us[name] = measured.cpu_us[name][-rounds:]
    urls["upstream"] = upstream + CHAT
    scripts["upstream"] = loadgen.write_script(work / "scale-upstream.lua", None)
    measured.latency = interleaved(_runner(wrk, urls, scripts, 1, 1), ["upstream", *PINNED],
                                   rounds, latency_seconds, warmup_s=1)
    return measured


def _runner(wrk: str, urls: dict[str, str], scripts: dict[str, Path], connections: int,
            threads: int, servers: dict[str, Server] | None = None, redis_pid: int = 0,
            measured: ScaleMeasured | None = None) -> Runner:
    def run(name: str, seconds: int) -> loadgen.WrkResult:
        server = (servers or {}).get(name)
        if server is None or measured is None:
            return loadgen.run_wrk(wrk, urls[name], scripts[name], connections, threads,
                                   seconds)
        pids = server_pids(server.pid)
        before, redis_before = cpu_seconds(pids), procs.cpu_seconds(redis_pid)
        result = loadgen.run_wrk(wrk, urls[name], scripts[name], connections, threads,
                                 seconds)
        used, redis_used = cpu_seconds(pids) - before, procs.cpu_seconds(redis_pid) - redis_before
        if result.requests:
            per = 1e6 / result.requests
            measured.cpu_us.setdefault(name, []).append(used * per)
            measured.cpu_us.setdefault(f"{name} {REDIS_PROCESS}", []).append(redis_used * per)
        measured.workers_seen[name] = len(pids)
        return result

    return run
