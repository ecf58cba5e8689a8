"""Reading the request log and the daily usage rollups (written by the server)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from app.models import Endpoint, Provider, RequestLog, Token, UsageDaily
from app.services.validation import iso


def _names(model: type[pw.Model], field: pw.Field) -> dict[int, str]:
    return dict(model.select(model.id, field).tuples())


def recent(limit: int = 50) -> list[dict[str, Any]]:
    """The newest `limit` rows, newest first, with token and endpoint names."""
    tokens = _names(Token, Token.name)
    endpoints = _names(Endpoint, Endpoint.name)
    rows = RequestLog.select().order_by(RequestLog.time.desc(), RequestLog.id.desc()).limit(limit)
    return [to_dict(r, tokens, endpoints) for r in rows]


def to_dict(row: RequestLog, tokens: dict[int, str], endpoints: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "request_id": row.request_id,
        "time": iso(row.time),
        "token_id": row.token_id,
        "token": tokens.get(row.token_id),
        "endpoint_id": row.endpoint_id,
        "endpoint": endpoints.get(row.endpoint_id),
        "provider_id": row.provider_id,
        "model": row.model,
        "status": row.status,
        "latency_ms": row.latency_ms,
        "ttfb_ms": row.ttfb_ms,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "usage_estimated": row.usage_estimated,
        "client_ip": row.client_ip,
        "stream": row.stream,
        "error": row.error,
    }


def usage_summary(since: dt.date) -> dict[str, Any]:
    """Totals since a day (UTC), overall and by token, endpoint and provider."""
    U = UsageDaily
    sums = [pw.fn.SUM(U.requests), pw.fn.SUM(U.errors), pw.fn.SUM(U.prompt_tokens),
            pw.fn.SUM(U.completion_tokens)]
    names = {"token_id": _names(Token, Token.name), "endpoint_id": _names(Endpoint, Endpoint.name),
             "provider_id": _names(Provider, Provider.name)}

    def group(column: str) -> list[dict[str, Any]]:
        field = getattr(U, column)
        query = U.select(field, *sums).where(U.day >= since).group_by(field).order_by(
            pw.fn.SUM(U.requests).desc())
        return [{column: key or None, "name": names[column].get(key), **_totals(rest)}
                for key, *rest in query.tuples()]

    total = U.select(*sums).where(U.day >= since).tuples().get()
    return {"since": since.isoformat(), **_totals(total), "by_token": group("token_id"),
            "by_endpoint": group("endpoint_id"), "by_provider": group("provider_id")}


def _totals(values: Any) -> dict[str, int]:
    requests, errors, prompt, completion = (int(v or 0) for v in values)
    return {"requests": requests, "errors": errors, "prompt_tokens": prompt,
            "completion_tokens": completion}
