"""The rows of issue 13's figures (route_phases.py): today's path against the code before
issue 13, and what a fallback adds beyond its failed attempt."""

from __future__ import annotations

import statistics
from typing import Any

from old_server import BEFORE_ISSUE_13
from report import Row
from rounds import paired_difference_p50
from route_phases import (
    AGAIN,
    FALLBACKS,
    LEFT,
    ONE,
    PACE_MS,
    FallbackMeasured,
    RoutesMeasured,
    TodayMeasured,
)
from seed import REFUSED

# Targets (the issue's; the A/A rows say whether a run can judge them). On the 2-CPU VM,
# loaded by other test runs, the old server against itself gave per-round req/s ratios
# 36-84 % apart and medians of 99.5-120 % with 5-15 rounds; CPU per request 16-45 % apart,
# medians 92-131 % with 5 rounds, 99.9-104 % with 15; p50 +0.03 to +0.34 ms. So 97 %,
# 103 % and +0.05 ms are judged only on a quiet machine; a loaded one shows its A/A.
RPS_PERCENT_MIN = 97
P50_ADDED_MAX_MS = 0.05
CPU_PERCENT_MAX = 103
FALLBACK_EXTRA_MAX_MS = 0.5
OLD = f"before issue 13 ({BEFORE_ISSUE_13})"
FIRST = {REFUSED: "first target refused", "chat-503": "first target 503"}


def today_rows(m: TodayMeasured | None, skipped: str) -> list[Row]:
    if m is None:
        return [Row(f"routes: SKIPPED today's path vs {OLD}: no git worktree of it", 0,
                    how=skipped)]
    rounds = len(m.throughput["old"].runs)
    how = (f"wrk -t2 -c32, endpoint {ONE!r} (one target) on the current server and on the "
           f"code {OLD}, the same CPU, {rounds} interleaved rounds")
    tp, lat, cpu_us = m.throughput, m.latency, m.cpu_us
    # The current server against the mean of the old one's two runs in the same round (a
    # drift within the round cancels); the A/A compares the two old runs.
    rps = {name: [r.rps for r in series.runs] for name, series in tp.items()}
    ratios = _ratios(rps["current"], _means(rps["old"], rps[AGAIN]))
    noise = _ratios(rps[AGAIN], rps["old"])
    cpu = _ratios(cpu_us["current"], _means(cpu_us["old"], cpu_us[AGAIN]))
    cpu_noise = _ratios(cpu_us[AGAIN], cpu_us["old"])
    p50_diff = statistics.median(
        c.p50_ms - (o.p50_ms + a.p50_ms) / 2
        for c, o, a in zip(lat["current"].runs, lat["old"].runs, lat[AGAIN].runs, strict=True))
    lat_how = (f"wrk -t1 -c1 --latency, {rounds} interleaved rounds with the upstream direct; "
               f"median of per-round values")
    cpu_how = how + "; each server's user + system CPU (/proc) / its requests, per round"
    aa = f"{OLD} against itself in the same rounds (A/A: the noise)"
    vs_mean = f", against the mean of the round's two runs of {OLD}"
    return [
        Row("routes: req/s c=32, one target, current", tp["current"].rps, "req/s", how=how),
        Row(f"routes: req/s c=32, {OLD}", tp["old"].rps, "req/s", how=how),
        Row(f"routes: req/s c=32, current % of {OLD}", statistics.median(ratios), "%", ">=",
            RPS_PERCENT_MIN, how=how + "; median of per-round ratios" + vs_mean),
        Row("routes: req/s c=32, A/A noise: median, old again % of old",
            statistics.median(noise), "%", how=how + "; " + aa),
        Row("routes: req/s c=32, A/A noise: per-round spread (max - min)",
            max(noise) - min(noise), "%", how=how + "; " + aa),
        Row("routes: added p50 c=1, one target, current (- direct)",
            paired_difference_p50(lat["current"], lat["upstream"]), "ms", how=lat_how),
        Row(f"routes: added p50 c=1, {OLD} (- direct)",
            paired_difference_p50(lat["old"], lat["upstream"]), "ms", how=lat_how),
        Row(f"routes: p50 c=1, current - {OLD}", p50_diff, "ms", "<=", P50_ADDED_MAX_MS,
            how=lat_how + vs_mean),
        Row("routes: p50 c=1, A/A noise: old again - old",
            paired_difference_p50(lat[AGAIN], lat["old"]), "ms", how=lat_how + "; " + aa),
        Row("routes: ModelProxy CPU per request, current", statistics.median(cpu_us["current"]),
            "us", how=cpu_how),
        Row(f"routes: ModelProxy CPU per request, {OLD}", statistics.median(cpu_us["old"]),
            "us", how=cpu_how),
        Row(f"routes: CPU per request, current % of {OLD}", statistics.median(cpu), "%", "<=",
            CPU_PERCENT_MAX, how=cpu_how + "; median of per-round ratios" + vs_mean),
        Row("routes: CPU per request, A/A noise: median, old again % of old",
            statistics.median(cpu_noise), "%", how=cpu_how + "; " + aa),
        Row("routes: CPU per request, A/A noise: per-round spread (max - min)",
            max(cpu_noise) - min(cpu_noise), "%", how=cpu_how + "; " + aa),
        Row("routes: today's path runs: errors (non-2xx + socket)",
            sum(s.errors for s in (*tp.values(), *lat.values())), "", "==", 0, how=how),
    ]


def _means(a: list[float], b: list[float]) -> list[float]:
    """Per round, the mean of two runs' values."""
    return [(x + y) / 2 for x, y in zip(a, b, strict=True)]


def _ratios(values: list[float], bases: list[float]) -> list[float]:
    """Per round: 100 * value / base."""
    return [100 * v / b for v, b in zip(values, bases, strict=True) if b]


def fallback_rows(m: FallbackMeasured) -> list[Row]:
    rounds = len(m.latency[ONE].runs)
    how = (f"wrk -t1 -c1 --latency, one request each {PACE_MS} ms (so the first target "
           f"never cools), {rounds} interleaved rounds, median of per-round values")
    rows = [Row(f"routes: p50 c=1 paced, {ONE!r} (one target)", m.latency[ONE].p50_ms, "ms",
                how=how)]
    for name in FALLBACKS:
        failed = statistics.median(m.failed_ms.get(name) or [float("nan")])
        added = paired_difference_p50(m.latency[name], m.latency[ONE])
        log_how = how + "; the failed attempt: median latency_ms of attempt_log[0] of its rows"
        rows += [
            Row(f"routes: p50 c=1 paced, {FIRST[name]}", m.latency[name].p50_ms, "ms", how=how),
            Row(f"routes: failed attempt p50, {FIRST[name]}", failed, "ms", how=log_how),
            Row(f"routes: fallback adds beyond the failed attempt, {FIRST[name]}",
                added - failed, "ms", "<=", FALLBACK_EXTRA_MAX_MS,
                how=log_how + "; p50(fallback) - p50(one target) - failed attempt p50"),
        ]
    counts = [(k, n) for name in FALLBACKS for k, n in m.rows.get(name, {}).items()]
    unfallen = sum(n for k, n in counts if k not in ("2", LEFT))
    rows.append(Row("routes: fallback rows of clients gone during the failed attempt",
                    sum(n for k, n in counts if k == LEFT), "",
                    how="status 499: wrk's run ended during the first attempt, and no fallback "
                        "is tried for a client gone; left out of the check below"))
    errors = sum(s.errors for s in m.latency.values())
    rows.append(Row("routes: fallback rows not of 2 attempts, errors", unfallen + errors, "",
                    "==", 0, how="request_log rows of the fallback endpoints with attempts != 2 "
                                 "(a cooled first target is skipped), clients gone aside, "
                                 "plus wrk's errors"))
    return rows


def rows(m: RoutesMeasured) -> list[Row]:
    return today_rows(m.today, m.skipped) + fallback_rows(m.fallbacks)


def details(m: RoutesMeasured) -> dict[str, Any]:
    out: dict[str, Any] = {"before_issue_13": BEFORE_ISSUE_13, "skipped": m.skipped or None}
    if m.today is not None:
        out["today"] = {"throughput": {k: s.as_dict() for k, s in m.today.throughput.items()},
                        "cpu_us_per_request": m.today.cpu_us,
                        "latency": {k: s.as_dict() for k, s in m.today.latency.items()}}
    fb = m.fallbacks
    out["fallbacks"] = {"pace_ms": PACE_MS,
                        "latency": {k: s.as_dict() for k, s in fb.latency.items()},
                        "failed_attempt_ms_p50": {k: statistics.median(v)
                                                  for k, v in fb.failed_ms.items() if v},
                        "rows_by_attempts": fb.rows, "rows_not_of_2_attempts": fb.odd[:20]}
    return out
