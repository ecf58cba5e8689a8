"""Interleaved wrk rounds: every target gets a short run in each round, in turn.

A shared 2-core VM can run at very different speeds from one second to the next, so
targets are never measured in long separate blocks: each round runs all of them back to
back, and comparisons are made within a round, then summarized by the median over rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from loadgen import WrkResult

Runner = Callable[[str, int], WrkResult]  # (target name, seconds) -> one wrk run


@dataclass
class Series:
    """One target's runs, one per round."""

    runs: list[WrkResult] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.runs)

    @property
    def seconds(self) -> float:
        return sum(r.duration_s for r in self.runs)

    @property
    def rps(self) -> float:
        """Requests per second over all rounds together."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def p50_ms(self) -> float:
        """The median over rounds of each round's p50."""
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    def as_dict(self) -> dict:
        return {"requests": self.requests, "seconds": round(self.seconds, 3),
                "rps": round(self.rps, 1), "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
                "errors": self.errors,
                "rounds": [{"rps": round(r.rps, 1), "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                            "requests": r.requests, "errors": r.errors} for r in self.runs]}


def interleaved(run: Runner, names: list[str], rounds: int, seconds: int,
                warmup_s: int) -> dict[str, Series]:
    """A warm-up run per target, then `rounds` rounds; the order turns each round."""
    for name in names:
        run(name, warmup_s)
    series = {name: Series() for name in names}
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            series[name].runs.append(run(name, seconds))
    return series


def paired_ratio(a: Series, b: Series) -> float:
    """The median over rounds of a's req/s divided by b's in the same round."""
    return statistics.median(x.rps / y.rps for x, y in zip(a.runs, b.runs, strict=True)
                             if y.rps)


def paired_difference_p50(a: Series, b: Series) -> float:
    """The median over rounds of a's p50 minus b's p50 in the same round (ms)."""
    return statistics.median(x.p50_ms - y.p50_ms for x, y in zip(a.runs, b.runs, strict=True))


def paired_difference_p99(a: Series, b: Series) -> float:
    return statistics.median(x.p99_ms - y.p99_ms for x, y in zip(a.runs, b.runs, strict=True))
