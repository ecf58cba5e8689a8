"""Issue 13's measurements: what routing costs on the path with no fallback, and what a
fallback adds beyond the failed attempt itself.

- today's path (old_server.py): today's code's one-target endpoint `chat` against the
  code before issue 13 (b862825) serving the same endpoint, two servers started for the
  phase and seeded by the same commands (not the bench's server, which the phases before
  have aged: in two full runs it measured 92-94 % of the old req/s where a fresh one
  measured 101 %), both on the proxies' CPU,
  interleaved rounds: req/s at c=32 with each server's CPU time per request (/proc), and
  p50 at c=1 (with the upstream direct in the same rounds, for "added p50"). The old
  server is run twice a round: its second run against its first (A/A) is the noise
  that any difference between the two codes must stand above.
- fallbacks: c=1 p50 of `chat-refused` (first target: a loopback port that refuses
  connections) and `chat-503` (first target: a fake upstream process of its own that
  answers 503 at once, no Retry-After) against `chat`, whose
  only target is the second target of both, interleaved rounds. The runs are paced (one
  request each PACE_MS) so that the first target never cools (seed.NO_COOLING) and every
  request pays its failed attempt; `chat` is paced alike. The failed attempt's own time
  is the first entry of each row's attempt_log, read from the request log afterwards.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import loadgen
import old_server
import procs
from dialect_phases import CpuTally
from phases import Targets, say
from rounds import Runner, Series, interleaved
from seed import REFUSED, UNAVAILABLE, Failing

ONE = "chat"  # the one-target endpoint, on both servers
AGAIN = "old-again"  # the old server's second run in each round
FALLBACKS = [REFUSED, UNAVAILABLE]
PACE_MS = 20  # at most 50 failures a second per first target: below NO_COOLING's 100
CHAT = "/v1/chat/completions"
HERE = Path(__file__).resolve().parent
CLIENT_GONE, LEFT = 499, "client gone"  # a row's status, and its count's key


@dataclass(frozen=True)
class Proxy:
    base: str
    pid: int
    token: str


@dataclass
class TodayMeasured:
    throughput: dict[str, Series]
    cpu_us: dict[str, list[float]]  # per round
    latency: dict[str, Series]


@dataclass
class FallbackMeasured:
    latency: dict[str, Series]
    failed_ms: dict[str, list[float]] = field(default_factory=dict)  # first attempts
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # attempts -> rows
    odd: list[dict] = field(default_factory=list)  # rows not of 2 attempts, to tell why


@dataclass
class RoutesMeasured:
    today: TodayMeasured | None
    skipped: str  # why `today` is None
    fallbacks: FallbackMeasured


def failing_targets(children: procs.Children) -> tuple[socket.socket, Failing]:
    """Where the fallback endpoints' first targets point: a loopback socket bound and never
    listening (connections refused; the caller keeps it open), and a second fake upstream
    answering 503 under /fail503/: a process of its own, as a failing provider is another
    host, so the connections it handles are not the fallback's upstream's work."""
    refusing, refused = procs.refusing_port()
    port = procs.free_port()
    children.start("upstream-503", [sys.executable, str(HERE / "upstream.py"), "--port",
                                    str(port)])
    children.wait_ready("upstream-503", f"http://127.0.0.1:{port}/")
    return refusing, Failing(refused, f"http://127.0.0.1:{port}/fail503/v1")


def measure(wrk: str, children: procs.Children, work: Path, targets: Targets,
            cpus: set[int] | None, rounds: int, seconds: int, latency_seconds: int
            ) -> RoutesMeasured:
    """Both phases; the old code's server runs only during the first (and is removed).
    The first compares two servers started for it (the old code's and today's, seeded
    alike); the fallbacks use the bench's server, with the warm-up token (the bench
    token's first use is the token check's cold one)."""
    upstream = targets.upstream
    measured_today = None
    old, skipped = old_server.start(children, work, upstream, cpus)
    if old is None:
        say(f"routes     {skipped}")
    else:
        # today's code as fresh as the old: started now, seeded by the same commands
        fresh, _ = old_server.start(children, work, upstream, cpus, commit=None,
                                    name="modelproxy-fresh")
        try:
            measured_today = today(wrk, upstream, _proxy(fresh), _proxy(old), work, rounds,
                                   seconds, latency_seconds)
        finally:
            old_server.stop(children, fresh)
            old_server.stop(children, old)
    current = Proxy(targets.modelproxy, targets.modelproxy_pid, targets.tokens.warmup_token)
    fb = fallbacks(wrk, current, work / "data", work, rounds, max(seconds, 2))
    return RoutesMeasured(measured_today, skipped, fb)


def _proxy(server: old_server.OldServer) -> Proxy:
    return Proxy(server.base, server.pid, server.token)


def _script(work: Path, name: str, token: str | None, model: str, pace_ms: int = 0) -> Path:
    body = json.dumps({"model": model, "max_tokens": 16,
                       "messages": [{"role": "user", "content": "Say hello"}]})
    path = loadgen.write_script(work / f"routes-{name}.lua", token, body)
    if pace_ms:  # wrk waits this long before sending; latency is timed from the send
        path.write_text(path.read_text() + f"delay = function() return {pace_ms} end\n")
    return path


def _runner(wrk: str, urls: dict[str, str], scripts: dict[str, Path], connections: int,
            threads: int, cpu: dict[str, CpuTally] | None = None) -> Runner:
    def run(name: str, seconds: int) -> loadgen.WrkResult:
        tally = (cpu or {}).get(name)
        before = procs.cpu_seconds(tally.pid) if tally else 0.0
        result = loadgen.run_wrk(wrk, urls[name], scripts[name], connections, threads, seconds)
        if tally and result.requests:
            used = procs.cpu_seconds(tally.pid) - before
            tally.us_per_request.setdefault(name, []).append(used / result.requests * 1e6)
        return result

    return run


def today(wrk: str, upstream: str, current: Proxy, old: Proxy, work: Path, rounds: int,
          seconds: int, latency_seconds: int) -> TodayMeasured:
    """The current server's one-target endpoint against the old code's endpoint, and the
    old one against itself."""
    # The old server twice a round: old-again against old is the run-to-run noise (A/A).
    servers = {"old": old, "current": current, AGAIN: old}
    urls = {name: s.base + CHAT for name, s in servers.items()}
    scripts = {name: _script(work, name, s.token, ONE) for name, s in servers.items()}
    cpu = {name: CpuTally(s.pid) for name, s in servers.items()}
    names = list(servers)
    tp = interleaved(_runner(wrk, urls, scripts, 32, 2, cpu), names, rounds, seconds,
                     warmup_s=2)
    cpu_us = {n: cpu[n].us_per_request[n][-rounds:] for n in names}  # warm-up left out
    urls["upstream"] = upstream + CHAT
    scripts["upstream"] = _script(work, "upstream", None, "bench-model")
    lat = interleaved(_runner(wrk, urls, scripts, 1, 1), ["upstream", *names], rounds,
                      latency_seconds, warmup_s=1)
    for n in names:
        say(f"routes     today {n:<9} {tp[n].rps:7.0f} req/s c=32, CPU "
            f"{statistics.median(cpu_us[n]):.0f} us/request, p50 c=1 {lat[n].p50_ms:.3f} ms "
            f"({tp[n].errors + lat[n].errors} errors)")
    return TodayMeasured(tp, cpu_us, lat)


def fallbacks(wrk: str, current: Proxy, data_dir: Path, work: Path, rounds: int,
              seconds: int) -> FallbackMeasured:
    """Paced c=1 p50 of each fallback endpoint against the one-target one, and each
    fallback row's failed first attempt, from the request log."""
    names = [ONE, *FALLBACKS]
    urls = {n: current.base + CHAT for n in names}
    scripts = {n: _script(work, f"paced-{n}", current.token, n, PACE_MS) for n in names}
    since = _last_row_id(data_dir)
    lat = interleaved(_runner(wrk, urls, scripts, 1, 1), names, rounds, seconds, warmup_s=1)
    measured = FallbackMeasured(lat)
    expected = sum(lat[n].requests for n in FALLBACKS)  # at least, warm-up runs aside
    for name, entries in _fallback_rows(data_dir, since, expected).items():
        counts = measured.rows[name] = {}
        failed = measured.failed_ms[name] = []
        for attempts, log, row in entries:
            # 499: wrk's run ended during the failed attempt, and a client gone gets no
            # fallback; counted apart.
            key = LEFT if row["status"] == CLIENT_GONE else str(attempts)
            counts[key] = counts.get(key, 0) + 1
            if key not in ("2", LEFT):
                measured.odd.append({"endpoint": name, **row})
            if attempts > 1 and log:
                failed.append(float(log[0]["latency_ms"]))
    for n in names:
        failed = measured.failed_ms.get(n)
        extra = (f", failed attempt p50 {statistics.median(failed):.3f} ms, rows by attempts "
                 f"{measured.rows[n]}") if failed else ""
        say(f"routes     paced c=1 {n:<12} p50 {lat[n].p50_ms:.3f} ms ({lat[n].errors} "
            f"errors){extra}")
    return measured


def _connect(data_dir: Path) -> contextlib.closing[sqlite3.Connection]:
    """The server's SQLite database, read only, beside the running server."""
    return contextlib.closing(sqlite3.connect(f"file:{data_dir / 'modelproxy.db'}?mode=ro",
                                              uri=True, timeout=10))


def _last_row_id(data_dir: Path) -> int:
    with _connect(data_dir) as db:
        return db.execute("SELECT COALESCE(MAX(id), 0) FROM request_log").fetchone()[0]


def _fallback_rows(data_dir: Path, since: int, expected: int, wait_s: float = 15.0
                   ) -> dict[str, list[tuple[int, list | None, dict]]]:
    """(attempts, attempt_log, the row's id, time, status, target, error) of the fallback
    endpoints' rows after `since`, once the server's log writer has written at least
    `expected` of them (it writes in batches)."""
    query = ("SELECT e.name, r.attempts, r.attempt_log, r.id, r.time, r.status, r.target_id, "
             "r.error, r.latency_ms FROM request_log r JOIN endpoint e "
             "ON e.id = r.endpoint_id WHERE r.id > ? AND e.name IN (?, ?)")
    deadline = time.monotonic() + wait_s
    while True:
        with _connect(data_dir) as db:
            found = db.execute(query, (since, *FALLBACKS)).fetchall()
        if len(found) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    rows: dict[str, list[tuple[int, list | None, dict]]] = {n: [] for n in FALLBACKS}
    for name, attempts, log, *rest in found:
        row = dict(zip(("id", "time", "status", "target_id", "error", "latency_ms"), rest,
                       strict=True))
        rows[name].append((attempts, json.loads(log) if log else None, row))
    return rows
