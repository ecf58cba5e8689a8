"""LogsModel: request-log rows, newest first, as the admin API's /logs pages give them."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from gui.models.base import Column, RecordTableModel
from gui.money import cost

STATUS_COLORS = {4: QColor("#a15c00"), 5: QColor("#b3261e")}


def local_time(value: str | None) -> str:
    """An API time ("2026-05-01T14:03:22Z") as local time, to the second."""
    if not value:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def ms_text(value: Any) -> str:
    if value is None:
        return "—"
    ms = float(value)
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:,.0f} ms"


def _count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def used_tokens(row: dict[str, Any]) -> bool:
    """Whether the request used model tokens (a cost unknown then means "no price")."""
    return bool((row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0))


def dialect_text(row: dict[str, Any]) -> str:
    """"messages → chat" for a translated request, "chat" for one passed through; "—" when
    it had none (embeddings, model lists, rows from before dialects were recorded)."""
    client, provider = row.get("client_dialect"), row.get("provider_dialect")
    if not client and not provider:
        return "—"
    if client == provider or not provider:
        return client or "—"
    return f"{client or '?'} → {provider}"


def short_session(value: Any) -> str:
    """A session id's first characters: a whole UUID pushed latency and tokens out of
    sight (the tooltip, the detail pane and the row's menu have all of it)."""
    if not value:
        return "—"
    text = str(value)
    return text if len(text) <= 12 else f"{text[:8]}…"


class LogsModel(RecordTableModel):
    """One row per proxied request; `add_newer` prepends only rows not shown yet."""

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("time", "Time", text=local_time),
        Column("status", "Status", align_right=True),
        Column("token", "Token"),
        Column("endpoint", "Endpoint"),
        Column("model", "Model"),
        Column("dialect", "Dialect", value=dialect_text),
        Column("agent_session", "Session", text=short_session),
        Column("latency_ms", "Latency", text=ms_text, align_right=True),
        Column("prompt_tokens", "Prompt", text=_count, align_right=True),
        Column("completion_tokens", "Completion", text=_count, align_right=True),
        Column("cost", "Cost", align_right=True,
               describe=lambda r: cost(r.get("cost"), used_tokens(r))),
        Column("usage_estimated", "Estimated"),
        Column("client_ip", "Client IP"),
        Column("request_id", "Request ID"),
        Column("error", "Error"),
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.ids: set[int] = set()

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.ids = {row["id"] for row in rows}
        super().set_rows(rows)

    def append_rows(self, rows: list[dict[str, Any]]) -> None:
        self.ids.update(row["id"] for row in rows)
        super().append_rows(rows)

    def prepend_rows(self, rows: list[dict[str, Any]]) -> None:
        self.ids.update(row["id"] for row in rows)
        super().prepend_rows(rows)

    def newest_id(self) -> int | None:
        """The last row written among those shown (ids follow the order rows are written)."""
        return max(self.ids) if self.ids else None

    def add_newer(self, rows: list[dict[str, Any]]) -> int:
        """Prepend the rows not shown yet (deduplicated by id); returns how many."""
        fresh = [row for row in rows if row["id"] not in self.ids]
        fresh.sort(key=lambda row: (row["time"], row["id"]), reverse=True)
        self.prepend_rows(fresh)
        return len(fresh)

    def add_older(self, rows: list[dict[str, Any]]) -> int:
        """Append a next page (deduplicated by id, in case a tail poll already added some)."""
        fresh = [row for row in rows if row["id"] not in self.ids]
        self.append_rows(fresh)
        return len(fresh)

    def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.ToolTipRole and index.isValid()
                and self.COLUMNS[index.column()].key == "agent_session"):
            return self.rows[index.row()].get("agent_session") or "—"
        return super().data(index, role)

    def extra_data(self, row: dict[str, Any], column: Column, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and column.key == "status":
            return STATUS_COLORS.get(int(row.get("status") or 0) // 100)
        return None
