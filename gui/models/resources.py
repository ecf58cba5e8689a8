"""Table models for the resources an admin manages: providers, endpoints, tokens, admins,
settings and the audit log. Rows are the admin API's JSON objects, columns are named."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

from gui.models import routes
from gui.models.base import Column, RecordTableModel

QUOTA_ROLE = Qt.ItemDataRole.UserRole + 2  # used / quota as a fraction, for the bar delegate
MUTED = QColor("#7a7a7a")
STATUS_COLORS = {"revoked": QColor("#b3261e"), "expired": QColor("#a15c00")}


# --- how values read -------------------------------------------------------------------------

def parse_time(value: str | None) -> dt.datetime | None:
    """An API time ("2026-05-01T14:03:22Z") as an aware datetime, or None."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def local_time(value: str | None) -> str:
    """An API time in local time, to the minute; "—" for none."""
    moment = parse_time(value)
    if moment is None:
        return value or "—"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def limit(value: Any) -> str:
    """A limit; None means there is none."""
    return "unlimited" if value is None else f"{int(value):,}"


def budget_color(row: dict[str, Any], column: Column) -> QColor | None:
    """The spend column's colour at 80 % (amber) and 100 % (red) of the budget."""
    return routes.LEVEL_COLORS.get(routes.spend_level(row)) if (
        column.key == "spent_this_month") else None


def compact_json(value: Any) -> str:
    """A value as short one-line JSON ("—" for nothing)."""
    if value in (None, {}, []):
        return "—"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def setting_text(value: Any) -> str:
    """A setting's value: a list of names or addresses as "127.0.0.1, ::1"; else JSON."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return compact_json(value)


def key_text(row: dict[str, Any]) -> str:
    return f"set {row.get('api_key_hint') or ''}".strip() if row.get("api_key_set") else "not set"


def token_status(row: dict[str, Any], now: dt.datetime | None = None) -> str:
    """active, revoked or expired."""
    if row.get("revoked"):
        return "revoked"
    expires = parse_time(row.get("expires_at"))
    if expires is not None and expires <= (now or dt.datetime.now(dt.UTC)):
        return "expired"
    return "active"


def quota_use(row: dict[str, Any], what: str) -> tuple[int, int | None]:
    """(used this month, monthly quota or None) for "requests" or "tokens"."""
    used = int((row.get("usage_month") or {}).get(what) or 0)
    return used, row.get(f"monthly_{what}")


def quota_text(row: dict[str, Any], what: str) -> str:
    used, quota = quota_use(row, what)
    return f"{used:,} / {quota:,}" if quota is not None else f"{used:,} / unlimited"


def quota_fraction(row: dict[str, Any], what: str) -> float | None:
    """How much of the quota is used, 0.0-1.0 (capped); None without a quota."""
    used, quota = quota_use(row, what)
    if quota is None:
        return None
    return 1.0 if quota == 0 else min(1.0, used / quota)


@dataclass(frozen=True)
class QuotaColumn(Column):
    """Usage this month against a quota: reads "used / quota", sorts by the amount used."""

    what: str = "requests"  # or "tokens"

    def get(self, row: dict[str, Any]) -> Any:
        return quota_use(row, self.what)[0]

    def show(self, row: dict[str, Any]) -> str:
        return quota_text(row, self.what)


# --- models ------------------------------------------------------------------------------------

class ProvidersModel(RecordTableModel):
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("name", "Name"),
        Column("type", "Type"),
        Column("base_url", "Base URL", text=lambda v: v or "—"),
        Column("api_key", "API key", value=key_text),
        Column("timeout_s", "Timeout (s)", text=lambda v: "—" if v is None else f"{v:g}",
               align_right=True),
        Column("headers", "Extra headers", value=lambda r: sorted(r.get("headers") or {})),
        Column("enabled", "Enabled"),
        Column("targets_health", "Targets", value=routes.provider_targets_text,
               tip=routes.provider_targets_tooltip),
        Column("created_at", "Created", text=local_time),
    )

    def extra_data(self, row: dict[str, Any], column: Column, role: int) -> Any:
        if role != Qt.ItemDataRole.ForegroundRole:
            return None
        if not row.get("enabled", True):
            return MUTED
        if column.key == "targets_health" and routes.unhealthy(row.get("targets_health") or []):
            return routes.LEVEL_COLORS["warning"]
        return None


class EndpointsModel(RecordTableModel):
    """Rows may carry `provider` (the first target's provider's name), added by the page;
    the targets read in the order tried, marked while one cools down."""

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("name", "Name"),
        Column("path", "Path"),
        Column("kind", "Kind"),
        Column("targets", "Targets", value=routes.targets_text, tip=routes.targets_tooltip),
        Column("aliases", "Aliases"),
        *routes.budget_columns(),
        Column("enabled", "Enabled"),
    )

    def extra_data(self, row: dict[str, Any], column: Column, role: int) -> Any:
        if role != Qt.ItemDataRole.ForegroundRole:
            return None
        if not row.get("enabled", True):
            return MUTED
        if column.key == "targets" and routes.unhealthy(routes.enabled_targets(row)):
            return routes.LEVEL_COLORS["warning"]
        return budget_color(row, column)


class TokensModel(RecordTableModel):
    """Usage columns sort by the amount used and give QUOTA_ROLE for the bar delegate."""

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("name", "Name"),
        Column("prefix", "Prefix"),
        Column("scopes", "Scopes"),
        Column("rpm", "RPM", text=limit, align_right=True),
        QuotaColumn("requests_month", "Requests this month", what="requests"),
        QuotaColumn("tokens_month", "Tokens this month", what="tokens"),
        *routes.budget_columns(),
        Column("allowed_ips", "Allowed IPs", text=lambda v: ", ".join(v or []) or "any"),
        Column("expires_at", "Expires", text=lambda v: local_time(v) if v else "never"),
        Column("last_used_at", "Last used", text=lambda v: local_time(v) if v else "never"),
        Column("status", "Status", value=token_status),
    )

    def extra_data(self, row: dict[str, Any], column: Column, role: int) -> Any:
        if role == QUOTA_ROLE and isinstance(column, QuotaColumn):
            return quota_fraction(row, column.what)
        if role == Qt.ItemDataRole.ForegroundRole:
            return STATUS_COLORS.get(token_status(row)) or budget_color(row, column)
        return None


class AdminsModel(RecordTableModel):
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("username", "Username"),
        Column("role", "Role"),
        Column("created_at", "Created", text=local_time),
    )


class SettingsModel(RecordTableModel):
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("name", "Setting"),
        Column("value", "Value", text=setting_text),
        Column("default", "Default", text=setting_text),
        Column("source", "Source"),
        Column("description", "Description"),
    )

    def extra_data(self, row: dict[str, Any], column: Column, role: int) -> Any:
        if role == Qt.ItemDataRole.FontRole and column.key == "value" and (
                row.get("source") == "admin"):
            font = QFont()
            font.setBold(True)
            return font
        return None


def target_text(row: dict[str, Any]) -> str:
    target_id = row.get("target_id")
    kind = row.get("target_type") or ""
    return f"{kind} #{target_id}" if target_id is not None else kind or "—"


class AuditModel(RecordTableModel):
    """Newest first, as the server gives them; `append_rows` adds older pages."""

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("time", "Time", text=local_time),
        Column("actor", "Actor"),
        Column("source", "Source"),
        Column("action", "Action"),
        Column("target", "Target", value=target_text),
        Column("changes", "Changes", text=compact_json),
    )
