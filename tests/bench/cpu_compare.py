"""Where a request's CPU goes, old code (b862825) against the current: a bounded loop of
identical requests, for finding per-request costs (not a target of `make bench`).

    .venv/bin/python tests/bench/cpu_compare.py cpu --requests 3000 --rounds 6
    .venv/bin/python tests/bench/cpu_compare.py callgrind --requests 300
    .venv/bin/python tests/bench/cpu_compare.py profile --requests 3000

- cpu: both servers served normally on the proxies' CPU, `--rounds` alternating runs of
  `--requests` requests each over `--connections` keep-alive connections; the server's
  CPU time (user + system, /proc) per request, per run and its median.
- callgrind: each server under `valgrind --tool=callgrind`; after a warm-up the counters
  are zeroed, `--requests` requests are sent and the counts dumped: instructions per
  request (over the requests answered 200; failures are reported), repeatable whatever
  else the machine runs (callgrind_annotate FILE reads them).
- profile: each server under cProfile (profile_server.py), enabled after the warm-up;
  prints both servers' top functions by own time per request.
`--stream` sends streaming requests instead.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import old_server
import procs

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def body(stream: bool) -> bytes:
    return json.dumps({"model": "chat", "max_tokens": 16, "stream": stream,
                       "messages": [{"role": "user", "content": "Say hello"}]}).encode()


def send(base: str, token: str, count: int, connections: int, stream: bool) -> tuple[int, int]:
    """`count` requests over `connections` keep-alive connections: (answered 200, not).
    A connection the server closed is opened again and its request counted as failed (a
    server under valgrind is ~50x slower: a per-request figure divides by the 200s)."""
    host, port = base.removeprefix("http://").split(":")
    payload = body(stream)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    counts = [0, 0]  # ok, failed
    share = [count // connections + (1 if i < count % connections else 0)
             for i in range(connections)]

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=300)
        for _ in range(n):
            try:
                conn.request("POST", "/v1/chat/completions", payload, headers)
                answer = conn.getresponse()
                answer.read()
            except (http.client.HTTPException, OSError) as exc:
                print(f"request failed: {exc!r}", file=sys.stderr)
                counts[1] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=300)
                continue
            counts[0 if answer.status == 200 else 1] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts[0], counts[1]


def start(children: procs.Children, work: Path, name: str, upstream: str, wrap: list[str],
          cpus: set[int] | None, flush_s: float = 0) -> tuple[str, int, str]:
    """(base URL, pid, token) of server `name` (old or current), run under `wrap`."""
    port = procs.free_port()
    if name == "old":
        source = _worktree(work / "old-src", old_server.BEFORE_ISSUE_13)
        env = procs.clean_env({"MODELPROXY_LOG_LEVEL": "WARNING", "PYTHONPATH": str(source)})
    else:
        source = _worktree(work / "current-src", CURRENT[0]) if CURRENT else REPO
        env = procs.clean_env({"MODELPROXY_LOG_LEVEL": "WARNING", "PYTHONPATH": str(source)})
    # Both seeded by the same commands (the old code's CLI, which the current one keeps):
    # the same provider, endpoint, token (rpm, scopes) and options on both sides.
    data_dir = work / f"{name}-data"
    token = old_server._seed(env, work, data_dir, upstream + "/v1")
    kind = "plain" if not wrap or "valgrind" in wrap[0] else wrap[0]
    tool = wrap if wrap and "valgrind" in wrap[0] else []
    argv = [*tool, sys.executable, str(HERE / "profile_server.py"), kind,
            str(work / f"{name}.prof"), "serve", "--port", str(port), "--data-dir", str(data_dir)]
    if flush_s:
        env["MP_FLUSH_S"] = str(flush_s)
    proc = children.start(name, argv, env=env, cwd=work, cpus=cpus)
    children.wait_ready(name, f"http://127.0.0.1:{port}/api/health", timeout=300)
    return f"http://127.0.0.1:{port}", proc.pid, token


CURRENT: list[str] = []  # --current COMMIT: "current" is that commit's code, not this tree's


def _worktree(source: Path, commit: str) -> Path:
    made = old_server._git("worktree", "add", "--detach", str(source), commit)
    if made.returncode != 0:
        raise RuntimeError(made.stderr)
    return source


def cpu_mode(args: argparse.Namespace, children: procs.Children, work: Path, upstream: str,
             cpus: set[int] | None) -> None:
    servers = {n: start(children, work, n, upstream, [], cpus) for n in ("old", "current")}
    for base, _, token in servers.values():
        send(base, token, args.warmup, args.connections, args.stream)
    per: dict[str, list[float]] = {n: [] for n in servers}
    for r in range(args.rounds):
        order = list(servers) if r % 2 == 0 else list(reversed(servers))
        for name in order:
            base, pid, token = servers[name]
            before = procs.cpu_seconds(pid)
            ok, bad = send(base, token, args.requests, args.connections, args.stream)
            per[name].append((procs.cpu_seconds(pid) - before) / max(1, ok) * 1e6)
            if bad:
                print(f"{name}: {bad} non-200 answers", file=sys.stderr)
        print(f"round {r}: " + ", ".join(f"{n} {v[-1]:.0f}" for n, v in per.items()),
              flush=True)
    old, cur = statistics.median(per["old"]), statistics.median(per["current"])
    ratios = [c / o for o, c in zip(per["old"], per["current"], strict=True)]
    print(f"CPU us/request median: old {old:.1f}, current {cur:.1f} ({cur / old:.1%}); "
          f"per-round ratio median {statistics.median(ratios):.1%}")


def callgrind_mode(args: argparse.Namespace, children: procs.Children, work: Path,
                   upstream: str, cpus: set[int] | None) -> None:
    for name in args.only or ("old", "current"):
        out = work / f"callgrind.{name}"
        wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
                "--dump-instr=no", "--collect-atstart=yes"]
        base, pid, token = start(children, work, name, upstream, wrap, cpus, args.flush_s)
        _report_failed(name, "warm-up", send(base, token, args.warmup, args.connections,
                                            args.stream))
        time.sleep(1.5 + args.flush_s)  # the log writer's last batch
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
        ok, bad = send(base, token, args.requests, args.connections, args.stream)
        _report_failed(name, "measured", (ok, bad))
        time.sleep(1.5 + args.flush_s)
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
        time.sleep(0.5)
        if children.procs[name].poll() is not None:  # its last dump is its exit's
            raise RuntimeError(f"{name}: the server exited under valgrind (see {name}.log)")
        dumps = sorted(work.glob(f"callgrind.{name}.{pid}*"), key=os.path.getmtime)
        total = _total_ir(dumps[-1])
        print(f"{name}: {total / max(1, ok):,.0f} instructions/request over {ok} answered "
              f"200 ({dumps[-1]})", flush=True)
        if args.keep:
            target = Path(args.keep) / f"callgrind.{name}"
            target.write_bytes(dumps[-1].read_bytes())
        children.stop(name, timeout=60)


def _report_failed(name: str, part: str, counts: tuple[int, int]) -> None:
    if counts[1]:
        print(f"{name} ({part}): {counts[1]} of {sum(counts)} requests not answered 200",
              file=sys.stderr, flush=True)


def _total_ir(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def profile_mode(args: argparse.Namespace, children: procs.Children, work: Path,
                 upstream: str, cpus: set[int] | None) -> None:
    import pstats
    import signal

    for name in args.only or ("old", "current"):
        base, pid, token = start(children, work, name, upstream, [args.mode], cpus,
                                 args.flush_s)
        _report_failed(name, "warm-up", send(base, token, args.warmup, args.connections,
                                            args.stream))
        time.sleep(1.5 + args.flush_s)
        os.kill(pid, signal.SIGUSR1)  # enable
        time.sleep(0.2)
        ok, bad = send(base, token, args.requests, args.connections, args.stream)
        _report_failed(name, "measured", (ok, bad))
        time.sleep(1.5 + args.flush_s)
        os.kill(pid, signal.SIGUSR2)  # disable and dump
        time.sleep(1.0)
        if args.keep:
            Path(args.keep, f"{name}.prof").write_bytes((work / f"{name}.prof").read_bytes())
        if args.mode == "opcodes":
            counts = json.loads((work / f"{name}.prof").read_text())
            print(f"== {name}: {sum(counts.values()) / max(1, ok):,.0f} bytecodes/request")
            children.stop(name, timeout=30)
            continue
        stats = pstats.Stats(str(work / f"{name}.prof"))
        print(f"== {name}: total {stats.total_tt / max(1, ok) * 1e6:.0f} us/request "
              "(profiled)")
        stats.sort_stats("tottime").print_stats(args.top)
        children.stop(name, timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["cpu", "callgrind", "profile", "opcodes"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--only", nargs="*", choices=["old", "current"])
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--flush-s", type=float, default=0,
                        help="the log writer's batches at most this often (MP_FLUSH_S)")
    parser.add_argument("--current", default=None,
                        help="serve this commit as the current server (seeded by this tree)")
    parser.add_argument("--keep", default=None, help="copy the profiles to this directory")
    args = parser.parse_args()
    if args.current:
        CURRENT.append(args.current)
    proxy_cpus, other = procs.cpu_split(True)
    procs.pin_self(other)
    with tempfile.TemporaryDirectory(prefix="mp-cpu-") as tmp:
        work = Path(tmp)
        children = procs.Children(work)
        try:
            port = procs.free_port()
            children.start("upstream", [sys.executable, str(HERE / "upstream.py"), "--port",
                                        str(port)])
            upstream = f"http://127.0.0.1:{port}"
            children.wait_ready("upstream", upstream + "/")
            {"cpu": cpu_mode, "callgrind": callgrind_mode, "profile": profile_mode,
             "opcodes": profile_mode}[args.mode](
                args, children, work, upstream, proxy_cpus)
        finally:
            children.stop_all()
            old_server.remove(work / "old-src")
            old_server.remove(work / "current-src")


if __name__ == "__main__":
    main()
