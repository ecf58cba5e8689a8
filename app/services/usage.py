"""Usage analytics from the hourly and daily rollups: time series, breakdowns, overview.

Rollups are small (one row per period and token/endpoint/provider/model/dialects), so these
answer quickly however large the request log grows. Usage by agent session is the one
exception: a session id is unbounded, so it is not in the rollups (kept forever) but read
from the request-log rows still kept (the log's retention). Costs are the ones stored with
each request when it was written (request_log.cost_nanos, summed into the rollups), never
today's prices: a price changed later does not rewrite history. Money (spend this month,
budgets): usage_money.py.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import peewee as pw

from app import latency, prices
from app.errors import ValidationError
from app.models import (
    Endpoint,
    Provider,
    ProviderHealth,
    RequestLog,
    Token,
    UsageDaily,
    UsageHourly,
    utcnow,
)
from app.services import usage_money
from app.services.validation import iso

GROUPS = {"token": "token_id", "endpoint": "endpoint_id", "provider": "provider_id",
          "model": "model", "client_dialect": "client_dialect",
          "provider_dialect": "provider_dialect", "agent_session": "agent_session"}
FROM_LOG = frozenset({"agent_session"})  # groups read from the request log, not the rollups
NONE = "(none)"  # the name of a dialect or session group of requests that had none
BUCKETS = ("hour", "day")
MAX_POINTS = 24 * 93  # ~3 months of hours
_SUMS = ("requests", "errors", "upstream_errors", "prompt_tokens", "completion_tokens",
         "cached_tokens", "cost_nanos", "unpriced", *latency.COLUMNS)


month_start = usage_money.month_start  # where it always was, for limits.py
month_spend = usage_money.month_spend


def month_by_token() -> dict[int, tuple[int, int]]:
    """Successful requests and model tokens per token this month."""
    U = UsageDaily
    query = (U.select(U.token_id, pw.fn.SUM(U.requests - U.errors),
                      pw.fn.SUM(U.prompt_tokens + U.completion_tokens))
             .where(U.day >= month_start()).group_by(U.token_id).tuples())
    return {token_id: (int(r or 0), int(t or 0)) for token_id, r, t in query}


def series(start: dt.datetime, end: dt.datetime, bucket: str = "day",
           group_by: str | None = None, filters: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    """Requests, errors, tokens, cost and p50/p95 latency per bucket in [start, end),
    one series per group (or one in all)."""
    if bucket not in BUCKETS:
        raise ValidationError("bucket must be hour or day", "bucket")
    if group_by is not None and group_by not in GROUPS:
        raise ValidationError(f"group_by must be one of {', '.join(GROUPS)}", "group_by")
    periods = _periods(start, end, bucket)
    names = _names(group_by)
    points: dict[Any, dict[Any, _Acc]] = defaultdict(lambda: defaultdict(_Acc))
    totals = _Acc()
    read = _log_rows if group_by in FROM_LOG else _rows
    for row in read(start, end, bucket, group_by, filters or {}):
        group = row[GROUPS[group_by]] if group_by else None
        key = _period_key(row["period"], bucket)
        points[group][key].add(row)
        totals.add(row)
    out = []
    for group, by_period in points.items():
        out.append({"key": group, "name": names.get(group, group) if group_by else "all",
                    "totals": _sum_of(by_period.values()).to_dict(),
                    "points": [{"t": iso(p), **by_period.get(p, _Acc()).to_dict()}
                               for p in periods]})
    out.sort(key=lambda s: -s["totals"]["requests"])
    return {"bucket": bucket, "from": iso(start), "to": iso(end), "group_by": group_by,
            "totals": totals.to_dict(), "series": out}


def overview() -> dict[str, Any]:
    """The numbers an admin looks at first (two rollup queries)."""
    now = utcnow()
    today = dt.datetime(now.year, now.month, now.day)
    hours = series(now - dt.timedelta(hours=24), now, "hour")
    points = hours["series"][0]["points"] if hours["series"] else []
    requests_today = sum(p["requests"] for p in points if p["t"] >= iso(today))
    day = hours["totals"]
    month = dt.datetime.combine(month_start(now), dt.time())
    by_token: dict[int, _Acc] = defaultdict(_Acc)
    by_endpoint: dict[int, _Acc] = defaultdict(_Acc)
    total = _Acc()
    for row in _rows(month, now + dt.timedelta(seconds=1), "day", "token", {}):
        for accs, key in ((by_token, row["token_id"]), (by_endpoint, row["endpoint_id"])):
            accs[key].add(row)
        total.add(row)
    active = Token.select().where((Token.revoked == False)  # noqa: E712
                                  & ((Token.expires_at.is_null()) | (Token.expires_at > now)))
    return {
        "requests_today": requests_today,
        "tokens_this_month": total.prompt_tokens + total.completion_tokens,
        "currency": prices.CURRENCY,
        "cost_this_month": _usd(total.cost_nanos),
        "unpriced_requests_this_month": total.unpriced,
        # All errors (the field as it always was), then split: a client's own mistakes
        # (400-499: bad token, limits, bad body) are not the upstream failing (500-599).
        "error_rate_24h": _rate(day["errors"], day["requests"]),
        "requests_24h": day["requests"],
        "client_errors_24h": day["client_errors"],
        "upstream_errors_24h": day["upstream_errors"],
        "client_error_rate_24h": _rate(day["client_errors"], day["requests"]),
        "upstream_error_rate_24h": _rate(day["upstream_errors"], day["requests"]),
        "active_tokens": active.count(),
        "top_tokens": _top(by_token, _names("token")),
        "top_endpoints": _top(by_endpoint, _names("endpoint")),
        "upstream_health": provider_health(),
        "budgets": usage_money.budgets(),
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def provider_health() -> list[dict[str, Any]]:
    checks = {h.provider_id: h for h in ProviderHealth.select()}
    out = []
    for p in Provider.select().order_by(Provider.name):
        check = checks.get(p.id)
        out.append({"provider_id": p.id, "name": p.name, "enabled": p.enabled,
                    "ok": None if check is None else check.ok,
                    "checked_at": None if check is None else iso(check.checked_at),
                    "latency_ms": None if check is None else check.latency_ms,
                    "error": None if check is None else check.error})
    return out


class _Acc:
    """Sums of rollup (or log) rows; cost in nanos, as stored."""

    __slots__ = ("cached_tokens", "completion_tokens", "cost_nanos", "errors", "hist",
                 "prompt_tokens", "requests", "unpriced", "upstream_errors")
    _ADDED = ("requests", "errors", "upstream_errors", "prompt_tokens", "completion_tokens",
              "cached_tokens", "cost_nanos", "unpriced")

    def __init__(self) -> None:
        for name in self._ADDED:
            setattr(self, name, 0)
        self.hist = [0] * len(latency.COLUMNS)

    def add(self, row: dict[str, Any]) -> None:
        for name in self._ADDED:
            setattr(self, name, getattr(self, name) + int(row[name] or 0))
        for i, column in enumerate(latency.COLUMNS):
            self.hist[i] += int(row[column] or 0)

    def merge(self, other: _Acc) -> None:
        for name in self._ADDED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.hist = [a + b for a, b in zip(self.hist, other.hist, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors,
                "client_errors": self.errors - self.upstream_errors,
                "upstream_errors": self.upstream_errors,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cached_tokens": self.cached_tokens,
                "cost": _usd(self.cost_nanos), "unpriced_requests": self.unpriced,
                "p50_ms": latency.percentile(self.hist, 0.5),
                "p95_ms": latency.percentile(self.hist, 0.95)}


def _usd(nanos: int) -> float:
    """Nanos as US dollars, to the millionth (what the API has always given)."""
    return round(nanos / prices.NANOS_PER_USD, 6)


def _sum_of(accs: Any) -> _Acc:
    total = _Acc()
    for acc in accs:
        total.merge(acc)
    return total


def _rows(start: dt.datetime, end: dt.datetime, bucket: str, group_by: str | None,
          filters: dict[str, Any]) -> list[dict[str, Any]]:
    model = UsageHourly if bucket == "hour" else UsageDaily
    period = model.hour if bucket == "hour" else model.day
    low, high = (start, end) if bucket == "hour" else (
        start.date(), (end - dt.timedelta(microseconds=1)).date())
    keys = [period, model.endpoint_id]
    if group_by and group_by != "endpoint":
        keys.append(getattr(model, GROUPS[group_by]))
    query = (model.select(*keys, *[pw.fn.SUM(getattr(model, c)).alias(c) for c in _SUMS])
             .where((period >= low) & ((period < high) if bucket == "hour" else (period <= high)))
             .group_by(*keys))
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(model, name) == value)
    rows = []
    for row in query.dicts():
        row["period"] = row.pop("hour" if bucket == "hour" else "day")
        rows.append(row)
    return rows


def _log_rows(start: dt.datetime, end: dt.datetime, bucket: str, group_by: str,
              filters: dict[str, Any]) -> list[dict[str, Any]]:
    """What _rows gives, summed from the request-log rows in [start, end) (one pass)."""
    R = RequestLog
    column = getattr(R, GROUPS[group_by])
    query = (R.select(R.time, R.endpoint_id, column, R.status, R.prompt_tokens,
                      R.completion_tokens, R.latency_ms, R.cached_tokens, R.cost_nanos)
             .where((R.time >= start) & (R.time < end)))
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(R, name) == value)
    sums: dict[tuple, dict[str, Any]] = {}
    for time, endpoint_id, group, status, prompt, completion, latency_ms, cached, cost in (
            query.tuples().iterator()):
        period = time.replace(minute=0, second=0, microsecond=0)
        period = period if bucket == "hour" else period.replace(hour=0)
        key = (period, endpoint_id or 0, group)
        row = sums.get(key)
        if row is None:
            row = sums[key] = {"period": period, "endpoint_id": key[1],
                               GROUPS[group_by]: group, **dict.fromkeys(_SUMS, 0)}
        row["requests"] += 1
        row["errors"] += status >= 400
        row["upstream_errors"] += status >= 500
        row["prompt_tokens"] += prompt or 0
        row["completion_tokens"] += completion or 0
        row["cached_tokens"] += cached or 0
        row["cost_nanos"] += cost or 0
        row["unpriced"] += cost is None and bool(prompt or completion)  # as logsql's rollups
        row[latency.COLUMNS[latency.bucket(latency_ms)]] += 1
    return list(sums.values())


def _periods(start: dt.datetime, end: dt.datetime, bucket: str) -> list[dt.datetime]:
    if end <= start:
        raise ValidationError("to must be after from", "to")
    step = dt.timedelta(hours=1) if bucket == "hour" else dt.timedelta(days=1)
    first = start.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        first = first.replace(hour=0)
    count = int((end - first) / step) + (1 if (end - first) % step else 0)
    if count > MAX_POINTS:
        raise ValidationError(f"too many {bucket}s in the range (at most {MAX_POINTS}); "
                              "use a shorter range or bucket=day", "from")
    return [first + i * step for i in range(count)]


def _period_key(value: Any, bucket: str) -> dt.datetime:
    if isinstance(value, str):  # SQLite hands back text for grouped dates
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    return dt.datetime(value.year, value.month, value.day)


def _names(group_by: str | None) -> dict[Any, str]:
    if group_by == "token":
        return dict(Token.select(Token.id, Token.name).tuples())
    if group_by == "endpoint":
        return dict(Endpoint.select(Endpoint.id, Endpoint.name).tuples())
    if group_by == "provider":
        return dict(Provider.select(Provider.id, Provider.name).tuples())
    if group_by in ("client_dialect", "provider_dialect", "agent_session"):
        return {"": NONE, None: NONE}
    return {}


def _top(accs: dict[int, _Acc], names: dict[Any, str], limit: int = 5
         ) -> list[dict[str, Any]]:
    ranked = sorted(((k, a) for k, a in accs.items() if k), key=lambda ka: -ka[1].requests)
    return [{"id": k, "name": names.get(k, k), **a.to_dict()} for k, a in ranked[:limit]]
