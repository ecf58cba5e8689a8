"""What a token or an endpoint used this month, read from the daily rollups for the quota
book (limits.QuotaBook): successful requests, model tokens, cost in nanos.

SQL text: on a shared database this runs before every request of a subject with a limit,
and peewee's builder took four fifths of its time.
"""

from __future__ import annotations

import datetime as dt

from app.models import UsageDaily


def of_token(token_id: int, since: dt.date) -> tuple[int, int, int]:
    """A token's successful requests, model tokens and cost since `since`."""
    return _since("token_id", token_id, since)


def of_endpoint(endpoint_id: int, since: dt.date) -> tuple[int, int, int]:
    """The same for an endpoint (its budget), over every token's requests to it."""
    return _since("endpoint_id", endpoint_id, since)


def _since(column: str, subject_id: int, since: dt.date) -> tuple[int, int, int]:
    db = UsageDaily._meta.database
    table = UsageDaily._meta.table_name
    # The connection goes back to the pool at once: the request may wait long upstream.
    with db.connection_context():
        row = db.execute_sql(
            f'SELECT SUM("requests" - "errors"), SUM("prompt_tokens" + "completion_tokens"), '
            f'SUM("cost_nanos") FROM "{table}" '
            f'WHERE "{column}" = {db.param} AND "day" >= {db.param}',
            (subject_id, since.isoformat())).fetchone()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)
