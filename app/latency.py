"""Latency histograms: fixed buckets whose counts add up in SQL, so rollups can give
p50/p95 latencies for any range without reading the raw request log."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

BOUNDS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
COLUMNS = (*(f"lat_le_{b}" for b in BOUNDS_MS), "lat_gt_60000")


def bucket(latency_ms: float) -> int:
    """The index of the bucket a latency falls in."""
    return bisect.bisect_left(BOUNDS_MS, latency_ms)


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) of a histogram, interpolated within its bucket; None if empty."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            low = 0.0 if i == 0 else float(BOUNDS_MS[i - 1])
            high = float(BOUNDS_MS[i]) if i < len(BOUNDS_MS) else low * 2
            return round(low + (high - low) * (rank - seen) / count, 1)
        seen += count
    return float(BOUNDS_MS[-1]) * 2
