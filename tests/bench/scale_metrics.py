"""The rows of issue 15's figures (scale_phases.py): one worker with its limits in Redis
against in its memory, and `--workers 2` against `--workers 1`."""

from __future__ import annotations

import statistics
from typing import Any

from report import Row
from rounds import paired_difference_p50, paired_ratio
from scale_phases import MEMORY, ONE, REDIS, REDIS_PROCESS, TWO, ScaleMeasured

RPS_PERCENT_MIN = 85  # the targets for Redis against memory
P50_ADDED_MAX_MS = 0.3


def rows(m: ScaleMeasured) -> list[Row]:
    tp, lat = m.throughput, m.latency
    rounds = len(tp[MEMORY].runs)
    how = (f"wrk -t2 -c32, token bench-limited (an rpm and monthly quotas), one worker on "
           f"the proxies' CPU, limits in memory or in a redis-server of the bench's own, "
           f"{rounds} interleaved rounds")
    lat_how = (f"wrk -t1 -c1 --latency, the same servers and token, {rounds} interleaved "
               f"rounds with the upstream direct; median of per-round values")
    scale_how = (f"wrk -t2 -c32, the same token, limits in Redis, `serve --workers 1` and "
                 f"`--workers 2` on every CPU (shared with wrk, the upstream and Redis), "
                 f"{rounds} interleaved rounds")
    cpu_how = "user + system CPU (/proc) during the c=32 runs / their requests, per round"

    def cpu(name: str) -> float:
        return statistics.median(m.cpu_us[name])

    return [
        Row("scale: req/s c=32, one worker, limits in memory", tp[MEMORY].rps, "req/s",
            how=how),
        Row("scale: req/s c=32, one worker, limits in Redis", tp[REDIS].rps, "req/s", how=how),
        Row("scale: req/s c=32, Redis % of memory", 100 * paired_ratio(tp[REDIS], tp[MEMORY]),
            "%", ">=", RPS_PERCENT_MIN, how=how + "; median of per-round ratios"),
        Row("scale: added p50 c=1, limits in memory (- direct)",
            paired_difference_p50(lat[MEMORY], lat["upstream"]), "ms", how=lat_how),
        Row("scale: added p50 c=1, limits in Redis (- direct)",
            paired_difference_p50(lat[REDIS], lat["upstream"]), "ms", how=lat_how),
        Row("scale: p50 c=1, Redis - memory", paired_difference_p50(lat[REDIS], lat[MEMORY]),
            "ms", "<=", P50_ADDED_MAX_MS, how=lat_how),
        Row("scale: CPU per request, one worker, limits in memory", cpu(MEMORY), "us",
            how=how + "; " + cpu_how),
        Row("scale: CPU per request, one worker, limits in Redis", cpu(REDIS), "us",
            how=how + "; " + cpu_how),
        Row("scale: CPU per request, redis-server (one worker's runs)",
            cpu(f"{REDIS} {REDIS_PROCESS}"), "us", how=how + "; " + cpu_how),
        Row("scale: req/s c=32, --workers 1", tp[ONE].rps, "req/s", how=scale_how),
        Row("scale: req/s c=32, --workers 2", tp[TWO].rps, "req/s", how=scale_how),
        Row("scale: req/s c=32, --workers 2 % of --workers 1",
            100 * paired_ratio(tp[TWO], tp[ONE]), "%",
            how=scale_how + "; median of per-round ratios"),
        Row("scale: --workers 2, worker 1's share of the log rows", _share(m.rows_by_worker),
            "%", how=scale_how + "; each worker's modelproxy_log_rows_written_total at the "
            "end (how the shared socket's connections were shared)"),
        Row("scale: CPU per request, --workers 1", cpu(ONE), "us", how=scale_how + "; " + cpu_how),
        Row("scale: CPU per request, --workers 2 (supervisor + workers)", cpu(TWO), "us",
            how=scale_how + "; " + cpu_how),
        Row("scale: CPU per request, redis-server (--workers 2's runs)",
            cpu(f"{TWO} {REDIS_PROCESS}"), "us", how=scale_how + "; " + cpu_how),
    ]


def _share(rows_by_worker: dict[str, float]) -> float:
    total = sum(rows_by_worker.values())
    return 100 * rows_by_worker.get("1", 0.0) / total if total else 0.0


def details(m: ScaleMeasured) -> dict[str, Any]:
    return {"throughput": {k: s.as_dict() for k, s in m.throughput.items()},
            "latency": {k: s.as_dict() for k, s in m.latency.items()},
            "cpu_us_per_request": m.cpu_us, "processes": m.workers_seen,
            "log_rows_by_worker": m.rows_by_worker}
