"""Reading the request log and the daily usage rollups (written by the server)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import peewee as pw

from app import prices
from app.errors import ValidationError
from app.models import Endpoint, Provider, RequestLog, Token, UsageDaily
from app.services.validation import iso


def _names(model: type[pw.Model], field: pw.Field) -> dict[int, str]:
    return dict(model.select(model.id, field).tuples())


CHUNK = 1000  # rows read per query while streaming
SESSION_CHARS = 128  # as the column holds them
DIALECTS = ("chat", "responses", "messages")  # what client_dialect and provider_dialect hold


def newest_first(limit: int | None = None, before: int | None = None,
                 client_dialect: str | None = None) -> Iterator[dict[str, Any]]:
    """Rows newest first — all of them when `limit` is None — starting after (older than)
    the row with id `before` (only those of `client_dialect`, when given). Read in keyset
    chunks, so any number of rows streams in bounded memory on both databases (a PostgreSQL
    cursor would fetch them all)."""
    R = RequestLog
    tokens, endpoints = _names(Token, Token.name), _names(Endpoint, Endpoint.name)
    after: tuple[dt.datetime, int] | None = None
    if before is not None:
        row = R.get_or_none(R.id == before) if 0 < before <= 2**63 - 1 else None
        if row is None:
            raise ValidationError(f"no request-log row with id {before}", "before")
        after = (row.time, row.id)
    left = limit
    while left is None or left > 0:
        query = R.select().order_by(R.time.desc(), R.id.desc())
        if client_dialect is not None:
            query = query.where(R.client_dialect == client_dialect)
        if after is not None:
            query = query.where((R.time < after[0]) | ((R.time == after[0]) & (R.id < after[1])))
        rows = list(query.limit(CHUNK if left is None else min(CHUNK, left)))
        for row in rows:
            yield to_dict(row, tokens, endpoints)
        if left is not None:
            left -= len(rows)
        if len(rows) < CHUNK and (left is None or left > 0):
            return
        if rows:
            after = (rows[-1].time, rows[-1].id)


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
        "client_dialect": row.client_dialect,
        "provider_dialect": row.provider_dialect,
        "agent_session": row.agent_session,
        "target_id": row.target_id,
        "cached_tokens": row.cached_tokens,
        "cost": prices.usd(row.cost_nanos),  # as stored when written: null, no price known
        "attempts": row.attempts,
        "attempt_log": attempt_log(row),
    }


def attempt_log(row: RequestLog) -> list[dict[str, Any]]:
    """Each attempt on a target: as stored where there were several; the row itself where
    there was one (its attempt log is not written, to keep the hot path's rows small);
    none where it was refused before any target was tried."""
    if row.attempts == 0:
        return []
    if row.attempt_log:
        return row.attempt_log
    return [{"target_id": row.target_id, "provider_id": row.provider_id, "model": row.model,
             "status": row.status, "latency_ms": row.latency_ms, "error": row.error}]


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


# --- browsing: filters and keyset pagination (never OFFSET) ---------------------------------

STATUS_CLASSES = {"2xx": (200, 300), "3xx": (300, 400), "4xx": (400, 500), "5xx": (500, 600),
                  "error": (400, 1000)}


EXACT_FILTERS = ("client_dialect", "provider_dialect", "agent_session")  # the new columns
SESSION_CHARS = 128  # as the column holds them
DIALECTS = ("chat", "responses", "messages")  # server/dialects/model.py's names
EPOCH = dt.datetime(1970, 1, 1)
_CURSOR = re.compile(r"^([0-9]{1,16})-([0-9]{1,18})$")  # what openapi.json says of it


def encode_cursor(row: RequestLog) -> str:
    """"MICROSECONDS-ID" of the last row of a page: where the next page starts."""
    return f"{(row.time - EPOCH) // dt.timedelta(microseconds=1)}-{row.id}"


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    match = _CURSOR.match(cursor)
    if match is None:
        raise ValidationError("cursor is not one this server gave out", "cursor")
    micros, row_id = (int(part) for part in match.groups())
    return EPOCH + dt.timedelta(microseconds=micros), row_id


def filtered(filters: dict[str, Any]) -> pw.ModelSelect:
    """Rows matching the filters, newest first. Filters: from, to (datetimes), token_id,
    endpoint_id, provider_id, target_id, model, status ("2xx", "4xx", "5xx", "error" or a code),
    request_id, client_dialect, provider_dialect, agent_session (exact), q (text in the
    error), after_id (rows written after that one)."""
    R = RequestLog
    query = R.select().order_by(R.time.desc(), R.id.desc())
    if filters.get("from") is not None:
        query = query.where(R.time >= filters["from"])
    if filters.get("to") is not None:
        query = query.where(R.time < filters["to"])
    if filters.get("after_id") is not None:  # written after that row: what a live tail wants
        query = query.where(R.id > filters["after_id"])
    for name in ("token_id", "endpoint_id", "provider_id", "target_id", "model", "request_id",
                 *EXACT_FILTERS):
        if name == "agent_session" and len(filters.get(name) or "") > SESSION_CHARS:
            raise ValidationError(f"agent_session is at most {SESSION_CHARS} characters", name)
        if name.endswith("_dialect") and filters.get(name) not in (None, "", *DIALECTS):
            raise ValidationError(f"{name} must be one of {', '.join(DIALECTS)}", name)
        if filters.get(name) not in (None, ""):
            query = query.where(getattr(R, name) == filters[name])
    status = filters.get("status")
    if status:
        if status in STATUS_CLASSES:
            low, high = STATUS_CLASSES[status]
            query = query.where((R.status >= low) & (R.status < high))
        elif re.fullmatch(r"[1-5][0-9][0-9]", str(status)):
            query = query.where(R.status == int(status))
        else:
            raise ValidationError("status must be 2xx, 3xx, 4xx, 5xx, error or a status code",
                                  "status")
    if filters.get("q"):
        query = query.where(R.error.contains(filters["q"]))
    return query


def page(filters: dict[str, Any], limit: int = 50, cursor: str | None = None
         ) -> tuple[list[dict[str, Any]], str | None]:
    """One page, newest first, and the cursor of the next page (None at the end)."""
    query = filtered(filters)
    if cursor:
        moment, row_id = decode_cursor(cursor)
        R = RequestLog
        query = query.where((R.time < moment) | ((R.time == moment) & (R.id < row_id)))
    rows = list(query.limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    tokens, endpoints = _names(Token, Token.name), _names(Endpoint, Endpoint.name)
    next_cursor = encode_cursor(rows[-1]) if more and rows else None
    return [to_dict(r, tokens, endpoints) for r in rows], next_cursor


CSV_COLUMNS = ["time", "request_id", "token", "endpoint", "model", "status", "latency_ms",
               "ttfb_ms", "prompt_tokens", "completion_tokens", "usage_estimated", "client_ip",
               "stream", "error", "client_dialect", "provider_dialect", "agent_session",
               "target_id", "cached_tokens", "cost", "attempts", "attempt_log"]


def csv_lines(filters: dict[str, Any], chunk: int = 1000) -> Iterator[str]:
    """The filtered rows as CSV text, a header then one line per row, read page by page.

    The filters are checked now (ValidationError), before any line is produced."""
    filtered(filters)
    return _csv_pages(filters, chunk)


def _csv_pages(filters: dict[str, Any], chunk: int) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    cursor = None
    while True:
        rows, cursor = page(filters, chunk, cursor)
        for row in rows:
            writer.writerow([_csv_value(row[c]) for c in CSV_COLUMNS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if cursor is None:
            return


def _csv_value(value: Any) -> Any:
    """A cell: empty for null, JSON text for the attempts (a list)."""
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":")) if isinstance(value, list) else value
