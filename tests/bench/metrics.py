"""The rows of the benchmark's table, from what the phases measured."""

from __future__ import annotations

import statistics
from typing import Any

from report import Row
from rounds import Series, paired_difference_p50, paired_difference_p99, paired_ratio
from tokencheck import ColdWarm


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def throughput_rows(tp: dict[str, Series]) -> list[Row]:
    rounds = len(tp["modelproxy"].runs)
    how = f"wrk -t2 -c32, non-streaming chat, {rounds} interleaved rounds"
    errors = sum(s.errors for s in tp.values())
    return [
        Row("throughput direct to upstream", tp["upstream"].rps, "req/s", how=how),
        Row("throughput via bare forwarder", tp["forwarder"].rps, "req/s", how=how),
        Row("throughput via ModelProxy", tp["modelproxy"].rps, "req/s", how=how),
        Row("ModelProxy % of bare forwarder", 100 * paired_ratio(tp["modelproxy"],
            tp["forwarder"]), "%", ">=", 90, how=how + "; median of per-round ratios"),
        Row("throughput runs: errors (non-2xx + socket)", errors, "", "==", 0, how=how),
    ]


def latency_rows(lat: dict[str, Series]) -> list[Row]:
    rounds = len(lat["modelproxy"].runs)
    how = f"wrk -t1 -c1 --latency, {rounds} interleaved rounds, median of per-round values"
    up, fwd, mp = lat["upstream"], lat["forwarder"], lat["modelproxy"]
    return [
        Row("latency p50 direct", up.p50_ms, "ms", how=how),
        Row("latency p50 via bare forwarder", fwd.p50_ms, "ms", how=how),
        Row("latency p50 via ModelProxy", mp.p50_ms, "ms", how=how),
        Row("added latency p50 (ModelProxy - direct)", paired_difference_p50(mp, up), "ms",
            "<=", 1, how=how),
        Row("added latency p50 (forwarder - direct)", paired_difference_p50(fwd, up), "ms",
            how=how + "; Flask + requests, no policy"),
        Row("added latency p50 (lean relay - direct)",
            paired_difference_p50(lat["lean"], up), "ms",
            how=how + "; bare WSGI + urllib3, no Flask, no policy: the least this stack adds"),
        Row("latency p99 direct", up.p99_ms, "ms", how=how),
        Row("latency p99 via ModelProxy", mp.p99_ms, "ms", how=how),
        Row("added latency p99 (ModelProxy - direct)", paired_difference_p99(mp, up), "ms",
            how=how),
    ]


def stream_rows(st: dict[str, dict[str, Any]], count: int, ramp_s: float) -> list[Row]:
    how = (f"{count} SSE streams from a gevent client (raw sockets), opened evenly over "
           f"{ramp_s:g} s")
    direct, fwd, mp = st["direct"], st["forwarder"], st["modelproxy"]
    ttfb = {name: median(s["ttfb_ms"]) for name, s in st.items()}
    return [
        Row("streams via ModelProxy: errors", mp["errors"], "", "==", 0, how=how),
        Row("streams direct / via forwarder: errors", direct["errors"] + fwd["errors"], "",
            how=how),
        Row("streams via ModelProxy: peak open at once", mp["open_peak"], "", ">=", count,
            how=how + "; counted by the client"),
        Row("ModelProxy RSS at peak (streams open)", mp["peak_rss_mb"], "MB", "<=", 150,
            how="largest VmRSS of the server, sampled every 20 ms, MiB"),
        Row("ModelProxy RSS before the streams", mp["rss_before_mb"], "MB", how="VmRSS, MiB"),
        Row("forwarder RSS at peak (streams open)", fwd["peak_rss_mb"], "MB",
            how="largest VmRSS, sampled every 20 ms, MiB"),
        Row("TTFB p50 direct", ttfb["direct"], "ms", how=how),
        Row("TTFB p50 via bare forwarder", ttfb["forwarder"], "ms", how=how),
        Row("TTFB p50 via ModelProxy", ttfb["modelproxy"], "ms", how=how),
        Row("added TTFB p50 (ModelProxy - direct)", ttfb["modelproxy"] - ttfb["direct"], "ms",
            "<=", 5, how=how),
        Row("added TTFB p50 (forwarder - direct)", ttfb["forwarder"] - ttfb["direct"], "ms",
            how=how + "; the floor of the stack"),
        Row("TTFB p99 via ModelProxy", percentile(mp["ttfb_ms"], 99), "ms", how=how),
    ]


def token_rows(http: ColdWarm, local: ColdWarm, local_amortized: float) -> list[Row]:
    n = local.warm_calls
    how_http = (f"over HTTP: one bcrypt's extra (first request with a new token "
                f"{http.cold_ms:.1f} ms - warm median {http.warm_ms:.3f} ms) plus {n} warm "
                f"checks ({local.warm_ms:.4f} ms each, in process), over {n + 1} requests")
    how_local = (f"TokenVerifier.verify in process: (1 cold call {local.cold_ms:.1f} ms + "
                 f"{n} warm calls) / {n + 1}")
    return [
        Row("token check: cold request extra (1 bcrypt)", http.extra_ms, "ms", how=how_http),
        Row("token check amortized (over HTTP)", (http.extra_ms + n * local.warm_ms) / (n + 1),
            "ms", "<=", 0.05, how=how_http),
        Row("token check amortized (in process)", local_amortized, "ms", "<=", 0.05,
            how=how_local),
        Row("token check warm (in process)", local.warm_ms, "ms", how=how_local),
    ]


def stream_details(st: dict[str, dict[str, Any]]) -> dict[str, Any]:
    keep = ("count", "ok", "errors", "error_kinds", "open_peak", "wall_s", "peak_rss_mb",
            "rss_before_mb")
    return {name: {**{k: s[k] for k in keep if k in s},
                   "ttfb_p50_ms": median(s["ttfb_ms"]),
                   "ttfb_p90_ms": percentile(s["ttfb_ms"], 90),
                   "ttfb_p99_ms": percentile(s["ttfb_ms"], 99),
                   "duration_p50_ms": median(s["total_ms"])} for name, s in st.items()}
