"""ModelProxy benchmark: ModelProxy against a bare Flask/gevent forwarder and the upstream itself.

Run it with `make bench`, or `.venv/bin/python tests/bench/run.py` from the repository root;
`--help` lists the knobs. `--profile FILE` also records the ModelProxy server with py-spy
(`.venv/bin/pip install py-spy`) during one extra 32-connection run and prints its hot
spots (hotspots.py reads such a file again).

It starts four processes, all on 127.0.0.1: a fast fake upstream (upstream.py), the bare
forwarder (forwarder.py: Flask + gevent pywsgi + one pooled requests.Session, the cost floor
of a Flask proxy), the lean relay (lean_relay.py, for the latency phase) and `modelproxy
serve` on a temporary data directory seeded with a provider, an endpoint "chat" and tokens
(auth, rate limit and request logging on, bcrypt at the default cost 12, log level WARNING).
With 2+ CPUs the proxies share the last CPU and everything else (wrk, the upstream, the
stream client) runs on the others, so every proxy gets the same dedicated core (--no-pin to
turn this off). It drives them with wrk (installed with apt-get when missing) and a gevent
stream client (streams.py), prints one table and writes it to
tests/bench/results/latest.json. It stops every child at the end, also on Ctrl-C or an
error, and takes about 2 minutes on 2 cores. The exit status is 1 when a target is missed.

A shared VM's speed drifts from second to second, so wrk runs are interleaved: each round
runs every target for a couple of seconds, in turn; comparisons are made within a round and
summarized by the median over rounds.

What each number means:
- throughput (req/s): `wrk -t2 -c32` non-streaming POST /v1/chat/completions to the
  upstream, via the bare forwarder and via ModelProxy (model "chat"), after a 2 s warm-up
  each. "ModelProxy % of bare forwarder": median of the per-round ratios (target >= 90 %).
- latency (ms): `wrk -t1 -c1 --latency` p50 and p99, median over rounds. "added p50" is
  ModelProxy's p50 minus the upstream's in the same round (target <= 1 ms). Beside it, the
  bare forwarder's, and the lean relay's (lean_relay.py: a bare WSGI callable on pywsgi with
  a urllib3 pool, no Flask, no policy): the least a proxy on this stack adds right now, on
  this machine, which tells how much of ModelProxy's added latency is the machine.
- streams: --streams streaming requests opened evenly over --ramp seconds and held open
  --hold seconds by the upstream's chunk delay (hold > ramp, so all are open at once),
  straight to the upstream, via the forwarder, then via ModelProxy. Errors (target 0);
  how many were open at once; ModelProxy's largest VmRSS sampled while they ran (target
  <= 150 MB, MiB); "added TTFB p50" = TTFB p50 via ModelProxy minus direct (target
  <= 5 ms), TTFB being the time from connecting to the first SSE bytes. The ramp sets the
  rate of new streams: opening 1,000 within ~2 s (--ramp 1 --hold 2) is more than even
  the bare forwarder can start on 2 cores, and TTFB then measures the queue.
- token check amortized (ms/request): the token checks of 10,001 requests with one token,
  per request. Over HTTP: the first request with a never-used token (one bcrypt check)
  minus the median warm request, plus 10,000 warm checks timed in process, / 10,001. In
  process: TokenVerifier.verify timed for one cold and 10,000 warm calls, total / 10,001
  (target <= 0.05 ms both).
- dialects (issue 12, dialect_phases.py): chat passed through against Messages->chat and
  Responses->chat translated, all with bodies.py's agent-like body: added p50 at c=1 and
  what translation adds over pass-through (target <= 0.3 ms), req/s at c=32, streams/s at
  c=32 from an upstream that sends a stream at once (translated >= 80 % of pass-through),
  ModelProxy's CPU per request and per stream, and memory per open stream, chat against
  Messages, each on a fresh server (translated within 110 % of pass-through).
- routes (issue 13, route_phases.py; `--only routes` runs just these, ~3 min): today's
  path, a fresh server of today's code (seeded like the old one, not the bench's aged
  server) and its one-target endpoint against the code before issue 13
  (b862825, old_server.py: a `git worktree add` of it, seeded by its own CLI, served in
  the same run on the same CPU; skipped with a line saying so where there is no git
  checkout with that commit): req/s at c=32 (>= 97 %), each server's CPU per request
  (<= 103 %), p50 at c=1 (<= +0.05 ms); the old server runs twice a round (the current
  one is compared with the mean of both), and its second run against its first (A/A:
  median and per-round spread) is the noise;
  --route-rounds (10) rounds, not 5, since the margins are a few % or 0.05 ms.
  Fallbacks: c=1 p50 of an endpoint whose first target refuses connections (or answers
  503: a second fake upstream process) and whose second is the upstream, against the
  one-target endpoint, paced (one request each 20 ms, cool-downs at 100 failures a
  second, so every request fails over); minus the failed attempt's median latency_ms
  from the rows' attempt_log, what the fallback adds must be <= 0.5 ms. Every fallback
  row must have 2 attempts.
- scale (issue 15, scale_phases.py; `--only scale` runs just these, ~2 min): one worker
  with its limits in Redis (a redis-server of the bench's own on a free port) against in
  its memory, the same token with an rpm and monthly quotas (so every request makes its
  Redis decision): req/s at c=32 (>= 85 %), p50 at c=1 (<= +0.3 ms), CPU per request of
  each and of redis-server; and `serve --workers 2` against `--workers 1` (both with
  Redis, on every CPU): req/s at c=32 (the scaling, for information: on 2 cores wrk, the
  upstream and Redis share them) and CPU per request (the supervisor's and its workers'
  summed).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dialect_metrics
import dialect_phases
import hotspots
import loadgen
import metrics
import phases
import procs
import route_metrics
import route_phases
import scale_metrics
import scale_phases
import tokencheck
from phases import Targets, say
from report import Row, table, write_json
from rounds import Series
from seed import Failing, Seeded, seed

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ModelProxy benchmark (see the module doc)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per phase")
    parser.add_argument("--seconds", type=int, default=2,
                        help="one throughput run (per target and round), whole seconds")
    parser.add_argument("--latency-seconds", type=int, default=1,
                        help="one latency run (per target and round), whole seconds")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--ramp", type=float, default=8.0,
                        help="seconds over which the streams are opened")
    parser.add_argument("--hold", type=float, default=9.0,
                        help="seconds the upstream holds each stream open (> --ramp)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not give the proxy under test a CPU of its own")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--route-rounds", type=int, default=10,
                        help="interleaved rounds of the routes phase (its margins are small)")
    parser.add_argument("--only", choices=["routes", "scale"], default=None,
                        help="run only this phase (route_phases.py: about 3 minutes; "
                             "scale_phases.py: about 2)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="also record ModelProxy with py-spy (raw stacks to this file) "
                             "during one more 32-connection run and print its hot spots")
    return parser.parse_args(argv)


def start_all(children: procs.Children, work: Path, hold_s: float,
              proxy_cpus: set[int] | None, failing: Failing) -> Targets:
    """The fake upstream, the bare forwarder and a seeded ModelProxy, each answering."""
    ports = {name: procs.free_port() for name in phases.LATENCY_NAMES}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    py = sys.executable
    children.start("upstream", [py, str(HERE / "upstream.py"), "--port",
                                str(ports["upstream"]), "--hold", str(hold_s)])
    forwarder = children.start(
        "forwarder", [py, str(HERE / "forwarder.py"), "--port", str(ports["forwarder"]),
                      "--upstream", url["upstream"] + "/v1"], cpus=proxy_cpus)
    children.start("lean", [py, str(HERE / "lean_relay.py"), "--port", str(ports["lean"]),
                            "--upstream", url["upstream"] + "/v1"], cpus=proxy_cpus)
    children.wait_ready("upstream", url["upstream"] + "/")
    server, tokens = start_modelproxy(children, "modelproxy", work, url["upstream"], failing,
                                      proxy_cpus, ports["modelproxy"])
    children.wait_ready("forwarder", url["forwarder"] + "/")
    children.wait_ready("lean", url["lean"] + "/")
    return Targets(url["upstream"], url["forwarder"], url["modelproxy"], url["lean"],
                   server.pid, forwarder.pid, tokens)


def start_modelproxy(children: procs.Children, name: str, work: Path, upstream: str,
                     failing: Failing, cpus: set[int] | None, port: int | None = None
                     ) -> tuple[subprocess.Popen, Seeded]:
    """`modelproxy serve` on its own seeded data directory (work/NAME), answering."""
    port = port or procs.free_port()
    data_dir = work / ("data" if name == "modelproxy" else name)
    tokens = seed(data_dir, upstream + "/v1", failing)
    server = children.start(
        name, [sys.executable, "-m", "app.main", "serve", "--port", str(port),
               "--data-dir", str(data_dir)],
        env=procs.clean_env({"MODELPROXY_LOG_LEVEL": "WARNING"}), cwd=work, cpus=cpus)
    children.wait_ready(name, f"http://127.0.0.1:{port}/api/health")
    return server, tokens


def fresh_server(children: procs.Children, work: Path, upstream: str, failing: Failing,
                 cpus: set[int] | None) -> dialect_phases.StartServer:
    """How the memory phase starts a fresh ModelProxy (stopped by children.stop)."""

    def start(name: str) -> dialect_phases.Server:
        port = procs.free_port()
        server, tokens = start_modelproxy(children, name, work, upstream, failing, cpus, port)
        return dialect_phases.Server(f"http://127.0.0.1:{port}", server.pid,
                                     tokens.bench_token)

    return start


@dataclass
class Measured:
    token_http: tokencheck.ColdWarm
    throughput: dict[str, Series]
    latency: dict[str, Series]
    streams: dict[str, dict[str, Any]]
    token_local: tokencheck.ColdWarm
    token_local_amortized: float
    spots: hotspots.Hotspots | None
    dialects: dialect_metrics.DialectMeasured


def measure(args: argparse.Namespace, wrk: str, targets: Targets, work: Path,
            start: dialect_phases.StartServer, stop: Any) -> Measured:
    """Every phase, in turn."""
    token = targets.tokens.bench_token
    scripts = {"upstream": loadgen.write_script(work / "upstream.lua", None),
               "forwarder": loadgen.write_script(work / "forwarder.lua", None),
               "lean": loadgen.write_script(work / "lean.lua", None),
               "modelproxy": loadgen.write_script(work / "modelproxy.lua", token)}
    cold_warm = tokencheck.over_http(targets.url("modelproxy"), targets.tokens.warmup_token,
                                     token)
    say(f"token      cold {cold_warm.cold_ms:.1f} ms, warm p50 {cold_warm.warm_ms:.3f} ms")
    tp = phases.throughput(wrk, targets, scripts, args.rounds, args.seconds)
    spots = phases.profile(wrk, targets, scripts, 10, args.profile.resolve()) \
        if args.profile else None
    lat = phases.latency(wrk, targets, scripts, args.rounds, args.latency_seconds)
    st = phases.streams(targets, args.streams, args.ramp, args.hold)
    local, local_amortized = tokencheck.in_process()
    dialects = measure_dialects(args, wrk, targets, work, start, stop)
    return Measured(cold_warm, tp, lat, st, local, local_amortized, spots, dialects)


def measure_dialects(args: argparse.Namespace, wrk: str, targets: Targets, work: Path,
                     start: dialect_phases.StartServer, stop: Any
                     ) -> dialect_metrics.DialectMeasured:
    """Issue 12's phases (dialect_phases.py): Messages and Responses translated to chat
    against chat passed through, on the same ModelProxy."""
    server = dialect_phases.Server(targets.modelproxy, targets.modelproxy_pid,
                                   targets.tokens.bench_token)
    events = dialect_phases.check(server)
    lat = dialect_phases.latency(wrk, targets.upstream, server, work, args.rounds,
                                 args.latency_seconds)
    tp, tp_cpu = dialect_phases.throughput(wrk, server, work, args.rounds, args.seconds,
                                           stream=False)
    st, st_cpu = dialect_phases.throughput(wrk, server, work, args.rounds, args.seconds,
                                           stream=True)
    mem = dialect_phases.memory(start, stop, args.streams, args.ramp, args.hold)
    return dialect_metrics.DialectMeasured(lat, tp, st, events, mem, tp_cpu.us_per_request,
                                           st_cpu.us_per_request)


def rows_of(m: Measured, args: argparse.Namespace) -> list[Row]:
    return (metrics.throughput_rows(m.throughput) + metrics.latency_rows(m.latency)
            + metrics.stream_rows(m.streams, args.streams, args.ramp)
            + metrics.token_rows(m.token_http, m.token_local, m.token_local_amortized)
            + dialect_metrics.rows(m.dialects))


def details_of(m: Measured, args: argparse.Namespace, cpus: dict[str, list[int]]
               ) -> dict[str, Any]:
    details: dict[str, Any] = {
        "throughput": {k: s.as_dict() for k, s in m.throughput.items()},
        "latency": {k: s.as_dict() for k, s in m.latency.items()},
        "streams": metrics.stream_details(m.streams),
        "token_over_http": vars(m.token_http) | {"extra_ms": m.token_http.extra_ms},
        "dialects": dialect_metrics.details(m.dialects),
        "settings": {k: v for k, v in vars(args).items() if k not in ("profile", "json")}
        | cpus,
    }
    if m.spots is not None:
        details["profile"] = {"file": str(args.profile), "samples": m.spots.samples,
                              "self_percent": m.spots.self_share,
                              "total_percent": m.spots.total_share}
    return details


def bench(args: argparse.Namespace, work: Path, children: procs.Children) -> list[Row]:
    """Start the targets, measure, and write the rows as JSON; returns the rows."""
    wrk = loadgen.ensure_wrk()
    proxy_cpus, other_cpus = procs.cpu_split(not args.no_pin)
    procs.pin_self(other_cpus)  # wrk, the upstream and the stream client inherit it
    cpus = {"proxy_cpus": sorted(proxy_cpus or []), "other_cpus": sorted(other_cpus or [])}
    say(f"starting the fake upstream, the bare forwarder and ModelProxy "
        f"(proxies on CPUs {cpus['proxy_cpus']}, the rest on {cpus['other_cpus']})")
    refusing, failing = route_phases.failing_targets(children)
    with refusing:  # the refused port stays taken (never listening) to the end
        targets = start_all(children, work, args.hold, proxy_cpus, failing)
        start = fresh_server(children, work, targets.upstream, failing, proxy_cpus)
        measured = None if args.only else measure(args, wrk, targets, work, start,
                                                  children.stop)
        routes = None if args.only == "scale" else route_phases.measure(
            wrk, children, work, targets, proxy_cpus, args.route_rounds, args.seconds,
            args.latency_seconds)
        scale = None if args.only == "routes" else scale_phases.measure(
            wrk, children, work, targets.upstream, failing, proxy_cpus, args.rounds,
            args.seconds, args.latency_seconds)
    rows: list[Row] = []
    details: dict[str, Any] = {"settings": {
        k: v for k, v in vars(args).items() if k not in ("profile", "json")} | cpus}
    if routes is not None:
        rows += route_metrics.rows(routes)
        details["routes"] = route_metrics.details(routes)
    if scale is not None:
        rows += scale_metrics.rows(scale)
        details["scale"] = scale_metrics.details(scale)
    if measured is not None:
        if measured.spots is not None:
            say(hotspots.render(measured.spots))
        rows = rows_of(measured, args) + rows
        details = details_of(measured, args, cpus) | details
    write_json(args.json, rows, details)
    return rows


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    procs.raise_nofile(65536)  # the children (and so the ModelProxy server) inherit it
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelproxy-bench-") as tmp:
        children = procs.Children(Path(tmp))
        try:
            rows = bench(args, Path(tmp), children)
        except KeyboardInterrupt:
            say("interrupted: stopping the child processes")
            return 130
        finally:
            children.stop_all()
    print(table(rows))
    say(f"\n{len(rows)} metrics in {time.monotonic() - started:.0f} s; written to {args.json}")
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
