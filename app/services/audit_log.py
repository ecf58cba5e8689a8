"""Reading the audit log: filters and keyset pagination, newest first."""

from __future__ import annotations

from typing import Any

from app.models import AuditEntry
from app.services.validation import iso


def page(filters: dict[str, Any], limit: int = 50, before_id: int | None = None
         ) -> tuple[list[dict[str, Any]], str | None]:
    A = AuditEntry
    query = A.select().order_by(A.id.desc())
    if before_id is not None:
        query = query.where(A.id < before_id)
    if filters.get("from") is not None:
        query = query.where(A.time >= filters["from"])
    if filters.get("to") is not None:
        query = query.where(A.time < filters["to"])
    for name in ("actor", "action", "target_type", "target_id"):
        if filters.get(name) not in (None, ""):
            query = query.where(getattr(A, name) == filters[name])
    rows = list(query.limit(limit + 1))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return [to_dict(r) for r in rows[:limit]], next_cursor


def to_dict(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "time": iso(entry.time), "actor": entry.actor,
            "source": entry.source, "action": entry.action, "target_type": entry.target_type,
            "target_id": entry.target_id, "changes": entry.changes}
