"""The benchmark's measurements, each against the running targets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hotspots
import loadgen
import procs
from rounds import Runner, Series, interleaved
from seed import Seeded

HERE = Path(__file__).resolve().parent
CHAT = "/v1/chat/completions"
NAMES = ["upstream", "forwarder", "modelproxy"]
LATENCY_NAMES = ["upstream", "lean", "forwarder", "modelproxy"]  # + the lean relay


@dataclass(frozen=True)
class Targets:
    """Base URLs (http://127.0.0.1:PORT) of what is measured, and ModelProxy's pid."""

    upstream: str
    forwarder: str
    modelproxy: str
    lean: str
    modelproxy_pid: int
    forwarder_pid: int
    tokens: Seeded

    def url(self, name: str) -> str:
        return getattr(self, name) + CHAT


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def wrk_runner(wrk: str, targets: Targets, scripts: dict[str, Path], connections: int,
               threads: int) -> Runner:
    def run(name: str, seconds: int) -> loadgen.WrkResult:
        return loadgen.run_wrk(wrk, targets.url(name), scripts[name], connections, threads,
                               seconds)

    return run


def throughput(wrk: str, targets: Targets, scripts: dict[str, Path], rounds: int,
               seconds: int) -> dict[str, Series]:
    """Non-streaming req/s with wrk -t2 -c32, interleaved rounds after a 2 s warm-up."""
    run = wrk_runner(wrk, targets, scripts, connections=32, threads=2)
    series = interleaved(run, NAMES, rounds, seconds, warmup_s=2)
    for name, s in series.items():
        say(f"throughput {name:<10} {s.rps:8.0f} req/s  "
            f"({s.requests} requests, {s.errors} errors)")
    return series


def latency(wrk: str, targets: Targets, scripts: dict[str, Path], rounds: int,
            seconds: int) -> dict[str, Series]:
    """One connection at a time: wrk -t1 -c1 --latency, interleaved rounds."""
    run = wrk_runner(wrk, targets, scripts, connections=1, threads=1)
    series = interleaved(run, LATENCY_NAMES, rounds, seconds, warmup_s=1)
    for name, s in series.items():
        say(f"latency    {name:<10} p50 {s.p50_ms:.3f} ms  p99 {s.p99_ms:.3f} ms")
    return series


def profile(wrk: str, targets: Targets, scripts: dict[str, Path], seconds: int,
            out: Path) -> hotspots.Hotspots | None:
    """py-spy records ModelProxy (raw stacks, all threads) during one more wrk -t2 -c32
    run, not counted in the results; returns its hot spots."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        say("--profile: py-spy is not in the venv (.venv/bin/pip install py-spy); skipped")
        return None
    recorder = subprocess.Popen(
        [str(spy), "record", "-d", str(seconds), "-r", "100", "--threads", "-p",
         str(targets.modelproxy_pid), "-o", str(out), "--format", "raw"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # let py-spy attach before the load starts
    result = wrk_runner(wrk, targets, scripts, 32, 2)("modelproxy", seconds + 1)
    _, err = recorder.communicate(timeout=30)
    if recorder.returncode != 0 or not out.exists():
        say(f"--profile: py-spy failed: {err.strip()[-500:]}")
        return None
    say(f"profile    {out} ({result.rps:.0f} req/s while sampled)")
    return hotspots.summarize(out, top=20)


def stream_run(url: str, token: str | None, count: int, ramp_s: float, hold_s: float,
               watch_pid: int | None, dialect: str | None = None) -> dict[str, Any]:
    """The stream client in its own process; samples `watch_pid`'s VmRSS while it runs.
    With `dialect`, it sends bodies.py's body in that dialect (streams.py --dialect)."""
    argv = [sys.executable, str(HERE / "streams.py"), "--url", url, "--count", str(count),
            "--ramp", str(ramp_s)] + (["--token", token] if token else []) \
        + (["--dialect", dialect] if dialect else [])
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_rss = 0.0
    deadline = time.monotonic() + ramp_s + hold_s + 60
    try:
        while client.poll() is None and time.monotonic() < deadline:
            if watch_pid is not None:
                peak_rss = max(peak_rss, procs.rss_mb(watch_pid)[0])
            time.sleep(0.02)
    finally:
        if client.poll() is None:
            client.kill()
        out, err = client.communicate()
    if client.returncode != 0:
        raise RuntimeError(f"the stream client failed ({client.returncode}):\n{err[-3000:]}")
    summary = dict(json.loads(out))
    summary["peak_rss_mb"] = peak_rss
    return summary


def streams(targets: Targets, count: int, ramp_s: float, hold_s: float
            ) -> dict[str, dict[str, Any]]:
    """`count` concurrent streams straight to the upstream, via the bare forwarder (the
    floor) and via ModelProxy, one after the other; the proxies' VmRSS is sampled."""
    results = {"direct": stream_run(targets.url("upstream"), None, count, ramp_s, hold_s,
                                    None)}
    _say_streams("direct", results["direct"])
    for name, pid in (("forwarder", targets.forwarder_pid),
                      ("modelproxy", targets.modelproxy_pid)):
        rss_before = procs.rss_mb(pid)[0]
        token = targets.tokens.bench_token if name == "modelproxy" else None
        results[name] = stream_run(targets.url(name), token, count, ramp_s, hold_s, pid)
        results[name]["rss_before_mb"] = rss_before
        _say_streams(name, results[name])
    return results


def _say_streams(name: str, s: dict[str, Any]) -> None:
    ttfb = s["ttfb_ms"]
    p50 = ttfb[len(ttfb) // 2] if ttfb else float("nan")
    rss = f"  peak RSS {s['peak_rss_mb']:.1f} MB" if s.get("peak_rss_mb") else ""
    say(f"streams    {name:<10} ok {s['ok']} errors {s['errors']} open at once "
        f"{s['open_peak']}  TTFB p50 {p50:.2f} ms{rss}")
