"""The rows of issue 12's figures: translation against chat pass-through (dialect_phases.py)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from bodies import CHAT, MESSAGES, RESPONSES
from report import Row
from rounds import Series, paired_difference_p50, paired_ratio

NAMES = {CHAT: "chat pass-through", MESSAGES: "Messages->chat", RESPONSES: "Responses->chat"}
BODY = "agent-like body (system, tool call + result, 2 tools)"


@dataclass
class DialectMeasured:
    latency: dict[str, Series]
    throughput: dict[str, Series]
    streams: dict[str, Series]
    events_per_stream: dict[str, int]
    memory: dict[str, dict[str, Any]]
    cpu_whole: dict[str, list[float]]  # ModelProxy's CPU us per request, per round
    cpu_stream: dict[str, list[float]]


def cpu_rows(cpu: dict[str, list[float]], what: str) -> list[Row]:
    """ModelProxy's CPU time per request (median over rounds) and what translation adds:
    steadier than req/s on a shared machine, since time the server waits is not in it."""
    how = (f"ModelProxy's user + system CPU time (/proc) over each c=32 {what} run / its "
           f"requests, median over rounds")
    rows = [Row(f"ModelProxy CPU per {what}, {NAMES[d]}", statistics.median(cpu[d]), "us",
                how=how) for d in (CHAT, MESSAGES, RESPONSES)]
    rows += [Row(f"ModelProxy CPU per {what}, {NAMES[d]} - pass-through",
                 statistics.median(x - y for x, y in zip(cpu[d], cpu[CHAT], strict=True)), "us",
                 how=how + "; median of per-round differences") for d in (MESSAGES, RESPONSES)]
    return rows


def latency_rows(lat: dict[str, Series]) -> list[Row]:
    rounds = len(lat[CHAT].runs)
    how = (f"wrk -t1 -c1 --latency, {BODY}, {rounds} interleaved rounds, median of "
           f"per-round values")
    rows = [Row(f"added p50 c=1, {NAMES[d]} (- direct)", paired_difference_p50(lat[d],
                lat["upstream"]), "ms", how=how) for d in (CHAT, MESSAGES, RESPONSES)]
    rows += [Row(f"translation adds p50 c=1, {NAMES[d]} (- pass-through)",
                 paired_difference_p50(lat[d], lat[CHAT]), "ms", "<=", 0.3, how=how)
             for d in (MESSAGES, RESPONSES)]
    return rows


def throughput_rows(tp: dict[str, Series]) -> list[Row]:
    rounds = len(tp[CHAT].runs)
    how = f"wrk -t2 -c32 via ModelProxy, non-streaming, {BODY}, {rounds} interleaved rounds"
    rows = [Row(f"req/s c=32, {NAMES[d]}", tp[d].rps, "req/s", how=how)
            for d in (CHAT, MESSAGES, RESPONSES)]
    rows += [Row(f"req/s c=32, {NAMES[d]} % of pass-through", 100 * paired_ratio(tp[d], tp[CHAT]),
                 "%", how=how + "; median of per-round ratios") for d in (MESSAGES, RESPONSES)]
    rows.append(Row("dialect runs: errors (non-2xx + socket)", sum(s.errors for s in tp.values()),
                    "", "==", 0, how=how))
    return rows


def stream_rows(st: dict[str, Series], events: dict[str, int]) -> list[Row]:
    rounds = len(st[CHAT].runs)
    how = (f"wrk -t2 -c32 via ModelProxy, streaming, {BODY}, upstream sends all events at "
           f"once, {rounds} interleaved rounds")
    rows = []
    for d in (CHAT, MESSAGES, RESPONSES):
        rows.append(Row(f"streams/s c=32, {NAMES[d]}", st[d].rps, "streams/s", how=how))
        rows.append(Row(f"client events/s c=32, {NAMES[d]}", st[d].rps * events[d], "events/s",
                        how=how + f"; {events[d]} SSE events a stream"))
    rows += [Row(f"streams/s, {NAMES[d]} % of pass-through", 100 * paired_ratio(st[d], st[CHAT]),
                 "%", ">=", 80, how=how + "; median of per-round ratios")
             for d in (MESSAGES, RESPONSES)]
    rows.append(Row("dialect stream runs: errors (non-2xx + socket)",
                    sum(s.errors for s in st.values()), "", "==", 0, how=how))
    return rows


def memory_rows(mem: dict[str, dict[str, Any]]) -> list[Row]:
    count = mem[CHAT]["count"]
    how = (f"{count} held SSE streams ({BODY}) on a fresh ModelProxy warmed up alike; "
           f"(peak VmRSS - VmRSS before) / streams open at once")
    chat, msgs = mem[CHAT], mem[MESSAGES]
    return [
        Row(f"RSS at peak, {count} streams, {NAMES[CHAT]}", chat["peak_rss_mb"], "MB", how=how),
        Row(f"RSS at peak, {count} streams, {NAMES[MESSAGES]}", msgs["peak_rss_mb"], "MB",
            how=how),
        Row(f"memory per open stream, {NAMES[CHAT]}", chat["per_stream_kib"], "KiB", how=how),
        Row(f"memory per open stream, {NAMES[MESSAGES]}", msgs["per_stream_kib"], "KiB",
            how=how),
        Row(f"memory per open stream, {NAMES[MESSAGES]} % of pass-through",
            100 * msgs["per_stream_kib"] / chat["per_stream_kib"], "%", "<=", 110, how=how),
        Row("dialect memory runs: errors, streams not all open at once",
            chat["errors"] + msgs["errors"] + (count - chat["open_peak"])
            + (count - msgs["open_peak"]), "", "==", 0, how=how),
    ]


def rows(m: DialectMeasured) -> list[Row]:
    return (latency_rows(m.latency) + throughput_rows(m.throughput)
            + cpu_rows(m.cpu_whole, "request") + stream_rows(m.streams, m.events_per_stream)
            + cpu_rows(m.cpu_stream, "stream") + memory_rows(m.memory))


def details(m: DialectMeasured) -> dict[str, Any]:
    keep = ("count", "ok", "errors", "open_peak", "peak_rss_mb", "rss_before_mb",
            "per_stream_kib", "wall_s")
    return {"latency": {k: s.as_dict() for k, s in m.latency.items()},
            "throughput": {k: s.as_dict() for k, s in m.throughput.items()},
            "streams": {k: s.as_dict() for k, s in m.streams.items()},
            "events_per_stream": m.events_per_stream,
            "cpu_us_per_request": m.cpu_whole, "cpu_us_per_stream": m.cpu_stream,
            "memory": {d: {k: r[k] for k in keep if k in r} for d, r in m.memory.items()}}
