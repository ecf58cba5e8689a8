"""Issue 12's measurements: what translating Anthropic Messages and OpenAI Responses to a
chat provider costs, next to chat completions passed through (today's hot path).

Every dialect sends bodies.py's agent-like exchange (system prompt, a tool call and its
result, two tools) to ModelProxy, whose endpoint's provider speaks only chat, so Messages
and Responses reach the bench upstream translated to chat (it serves nothing else):
- latency: wrk -t1 -c1 p50 for the upstream (the chat body, direct) and each dialect via
  ModelProxy, interleaved rounds; "added" = via ModelProxy minus direct, per round.
- throughput: wrk -t2 -c32 req/s for each dialect via ModelProxy, interleaved rounds,
  and ModelProxy's CPU time per request in each run (/proc: steadier than req/s on a
  shared machine).
- stream throughput: wrk -t2 -c32 over streaming requests to the endpoint `chat-nohold`,
  whose upstream sends a stream's events at once: streams/s (and the client's events/s).
- memory per open stream: for pass-through chat and translated Messages in turn, a fresh
  ModelProxy is warmed up the same way, then holds --streams streams open; (peak VmRSS -
  VmRSS before) / streams open at once.
"""

from __future__ import annotations

import statistics
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bodies
import loadgen
import procs
from bodies import CHAT, MESSAGES, RESPONSES
from phases import say, stream_run
from rounds import Series, interleaved

DIALECTS = [CHAT, MESSAGES, RESPONSES]
HELD, NOHOLD = "chat", "chat-nohold"  # endpoints: streams held open / sent at once
WARM_STREAMS = 20  # per dialect, before a memory run


@dataclass(frozen=True)
class Server:
    """A running ModelProxy: its base URL, pid and a token it accepts."""

    base: str
    pid: int
    token: str


@dataclass
class CpuTally:
    """ModelProxy's CPU time per request (us), one value per run (warm-up runs included)."""

    pid: int
    us_per_request: dict[str, list[float]] = field(default_factory=dict)


StartServer = Callable[[str], Server]  # (child name) -> a fresh, seeded ModelProxy


def _scripts(work: Path, token: str, stream: bool, model: str) -> dict[str, Path]:
    return {d: loadgen.write_script(work / f"{d}-{'stream' if stream else 'whole'}.lua",
                                    token, bodies.body(d, model, stream)) for d in DIALECTS}


def _runner(wrk: str, urls: dict[str, str], scripts: dict[str, Path], connections: int,
            threads: int, cpu: CpuTally | None = None) -> Callable[[str, int], loadgen.WrkResult]:
    """One wrk run of a target; with `cpu`, ModelProxy's CPU time per request is noted."""

    def run(name: str, seconds: int) -> loadgen.WrkResult:
        before = procs.cpu_seconds(cpu.pid) if cpu else 0.0
        result = loadgen.run_wrk(wrk, urls[name], scripts[name], connections, threads, seconds)
        if cpu and result.requests:
            used = procs.cpu_seconds(cpu.pid) - before
            cpu.us_per_request.setdefault(name, []).append(used / result.requests * 1e6)
        return result

    return run


def check(server: Server) -> dict[str, int]:
    """One whole and one streamed answer per dialect, each complete; returns the events
    a client gets in one stream of each dialect (to turn streams/s into events/s)."""
    events = {}
    for dialect in DIALECTS:
        for stream in (False, True):
            raw = _post(server, dialect, bodies.body(dialect, NOHOLD, stream))
            if stream and bodies.STREAM_ENDS[dialect] not in raw:
                raise RuntimeError(f"{dialect} stream did not end: {raw[-300:]!r}")
            if not stream and b"Hello from the bench" not in raw:
                raise RuntimeError(f"{dialect} answer lacks the upstream's text: {raw[:300]!r}")
            if stream:
                events[dialect] = raw.count(b"data:")
    return events


def _post(server: Server, dialect: str, body: str) -> bytes:
    request = urllib.request.Request(
        server.base + bodies.PATHS[dialect], data=body.encode(),
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json",
                 "anthropic-version": "2023-06-01"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


def latency(wrk: str, upstream: str, server: Server, work: Path, rounds: int,
            seconds: int) -> dict[str, Series]:
    """c=1 p50 of the chat body direct and of each dialect via ModelProxy."""
    scripts = _scripts(work, server.token, False, HELD)
    scripts["upstream"] = loadgen.write_script(work / "upstream-agent.lua", None,
                                               bodies.body(CHAT, "bench-model"))
    urls = {d: server.base + bodies.PATHS[d] for d in DIALECTS}
    urls["upstream"] = upstream + bodies.PATHS[CHAT]
    series = interleaved(_runner(wrk, urls, scripts, 1, 1), ["upstream", *DIALECTS],
                         rounds, seconds, warmup_s=1)
    for name, s in series.items():
        say(f"dialects   latency {name:<9} p50 {s.p50_ms:.3f} ms  p99 {s.p99_ms:.3f} ms")
    return series


def throughput(wrk: str, server: Server, work: Path, rounds: int, seconds: int,
               stream: bool) -> tuple[dict[str, Series], CpuTally]:
    """c=32 req/s of each dialect via ModelProxy: whole answers, or streams sent at once;
    and ModelProxy's CPU time per request in each run."""
    scripts = _scripts(work, server.token, stream, NOHOLD if stream else HELD)
    urls = {d: server.base + bodies.PATHS[d] for d in DIALECTS}
    cpu = CpuTally(server.pid)
    series = interleaved(_runner(wrk, urls, scripts, 32, 2, cpu), DIALECTS, rounds, seconds,
                         warmup_s=2)
    for name in DIALECTS:  # the warm-up runs' figures left out
        cpu.us_per_request[name] = cpu.us_per_request[name][-len(series[name].runs):]
    what = "streams/s" if stream else "req/s"
    for name, s in series.items():
        say(f"dialects   c=32 {'stream' if stream else 'whole '} {name:<9} {s.rps:8.0f} {what}"
            f"  ({s.requests} requests, {s.errors} errors, ModelProxy CPU "
            f"{statistics.median(cpu.us_per_request[name]):.0f} us each)")
    return series, cpu


def memory(start: StartServer, stop: Callable[[str], None], count: int, ramp_s: float,
           hold_s: float) -> dict[str, dict[str, Any]]:
    """`count` held streams on a fresh, equally warmed ModelProxy: chat passed through,
    then Messages translated; VmRSS sampled."""
    results = {}
    for dialect in (CHAT, MESSAGES):
        name = f"modelproxy-mem-{dialect}"
        server = start(name)
        try:
            for warm in (CHAT, MESSAGES):
                for _ in range(WARM_STREAMS):
                    _post(server, warm, bodies.body(warm, NOHOLD, stream=True))
            before = procs.rss_mb(server.pid)[0]
            run = stream_run(server.base + bodies.PATHS[dialect], server.token, count,
                             ramp_s, hold_s, server.pid, dialect)
        finally:
            stop(name)
        run["rss_before_mb"] = before
        run["per_stream_kib"] = (run["peak_rss_mb"] - before) * 1024 / max(1, run["open_peak"])
        say(f"dialects   memory {dialect:<9} ok {run['ok']} errors {run['errors']} open "
            f"{run['open_peak']}  RSS {before:.1f} -> {run['peak_rss_mb']:.1f} MB  "
            f"{run['per_stream_kib']:.1f} KiB/stream")
        results[dialect] = run
    return results

