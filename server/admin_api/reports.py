"""Read-only reports: usage series, the overview, request logs (and their CSV), the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from app.errors import ValidationError
from app.models import utcnow
from app.services import audit_log, request_logs, usage
from app.services.validation import timestamp
from server.admin_api.auth import bp
from server.admin_api.common import int_arg, items

RANGES = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7),
          "30d": dt.timedelta(days=30), "90d": dt.timedelta(days=90)}


def _given(name: str) -> str | None:
    """A typed query argument: absent is None, but an empty one is a mistake (400)."""
    value = request.args.get(name)
    if value == "":
        raise ValidationError(f"{name} is empty: leave it out, or give a value", name)
    return value


def _time_arg(name: str) -> dt.datetime | None:
    return timestamp(_given(name), name)


def _range() -> tuple[dt.datetime, dt.datetime]:
    """`range` (24h, 7d, 30d, 90d) or `from`/`to`; the default is the last 30 days."""
    end = _time_arg("to") or utcnow()
    start = _time_arg("from")
    if start is None:
        span = request.args.get("range", "30d")
        if span not in RANGES:
            raise ValidationError(f"range must be one of {', '.join(RANGES)}", "range")
        start = end - RANGES[span]  # `to` is after 1970, so this cannot underflow
    return start, end


@bp.get("/usage")
def usage_series() -> ResponseReturnValue:
    start, end = _range()
    default_bucket = "hour" if end - start <= dt.timedelta(days=2) else "day"
    filters = {"token_id": int_arg("token_id"), "endpoint_id": int_arg("endpoint_id"),
               "provider_id": int_arg("provider_id"), "model": request.args.get("model"),
               "client_dialect": request.args.get("client_dialect"),
               "provider_dialect": request.args.get("provider_dialect")}
    return jsonify(usage.series(start, end, request.args.get("bucket", default_bucket),
                                request.args.get("group_by") or None, filters))


@bp.get("/overview")
def overview() -> ResponseReturnValue:
    return jsonify(usage.overview())


def _log_filters() -> dict[str, Any]:
    return {"from": _time_arg("from"), "to": _time_arg("to"),
            "token_id": int_arg("token_id"), "endpoint_id": int_arg("endpoint_id"),
            "provider_id": int_arg("provider_id"), "target_id": int_arg("target_id"),
            "model": request.args.get("model"), "status": _given("status"),
            "request_id": request.args.get("request_id"),
            "q": request.args.get("q"), "after_id": int_arg("after_id"),
            **{name: request.args.get(name) for name in request_logs.EXACT_FILTERS}}


@bp.get("/logs")
def logs() -> ResponseReturnValue:
    rows, next_cursor = request_logs.page(_log_filters(), int_arg("limit", 50, 1, 1000),
                                          _given("cursor"))
    return items(rows, next_cursor, paginated=True)


@bp.get("/logs/export.csv")
def logs_csv() -> ResponseReturnValue:
    lines = request_logs.csv_lines(_log_filters())
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=request-logs.csv"})


@bp.get("/audit")
def audit() -> ResponseReturnValue:
    filters = {"from": _time_arg("from"), "to": _time_arg("to"),
               "actor": request.args.get("actor"), "action": request.args.get("action"),
               "target_type": request.args.get("target_type"),
               "target_id": int_arg("target_id")}
    rows, next_cursor = audit_log.page(filters, int_arg("limit", 50, 1, 1000),
                                       int_arg("cursor"))
    return items(rows, next_cursor, paginated=True)
