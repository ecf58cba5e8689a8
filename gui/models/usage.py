"""UsageBreakdownModel: one row per group of a /usage answer, with the group's totals."""

from __future__ import annotations

from typing import Any, ClassVar

from gui.models.base import Column, RecordTableModel
from gui.money import priced_total


def _count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def _ms(value: Any) -> str:
    if value is None:
        return "—"
    ms = float(value)
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:,.0f} ms"


def group_name(series: dict[str, Any]) -> str:
    """A series' name; the server falls back to the key (an id) when the name is gone,
    and key 0 or None stands for "no token/endpoint/provider" (e.g. refused requests)."""
    name = series.get("name")
    if name in (None, "", 0):
        return "(none)"
    return f"#{name}" if isinstance(name, int) else str(name)


def breakdown_rows(usage: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows of a /usage answer: the group's key and name, then its totals."""
    return [{"key": s.get("key"), "name": group_name(s), **s["totals"]}
            for s in usage.get("series", [])]


class UsageBreakdownModel(RecordTableModel):
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("name", "Group"),
        Column("requests", "Requests", text=_count, align_right=True),
        Column("errors", "Errors", text=_count, align_right=True),
        Column("prompt_tokens", "Prompt tokens", text=_count, align_right=True),
        Column("completion_tokens", "Completion tokens", text=_count, align_right=True),
        Column("cached_tokens", "Cached prompt tokens", text=_count, align_right=True),
        Column("cost", "Cost", align_right=True,
               describe=lambda r: priced_total(r.get("cost"), r.get("unpriced_requests") or 0)),
        Column("p50_ms", "p50", text=_ms, align_right=True),
        Column("p95_ms", "p95", text=_ms, align_right=True),
    )

    def set_usage(self, usage: dict[str, Any]) -> None:
        self.set_rows(breakdown_rows(usage))

    def csv_rows(self) -> list[list[Any]]:
        """Header and raw values (numbers unformatted), for a CSV export."""
        header = [c.header for c in self.COLUMNS]
        body = [["" if c.get(row) is None else c.get(row) for c in self.COLUMNS]
                for row in self.rows]
        return [header, *body]
