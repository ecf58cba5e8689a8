"""The resource table models on their own: columns, display text, sort values, Qt's checks."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt

from gui.models.base import ROW_ROLE, SORT_ROLE
from gui.models.resources import (
    QUOTA_ROLE,
    AdminsModel,
    AuditModel,
    EndpointsModel,
    ProvidersModel,
    SettingsModel,
    TokensModel,
    compact_json,
    local_time,
    token_status,
)

DISPLAY = Qt.ItemDataRole.DisplayRole
FOREGROUND = Qt.ItemDataRole.ForegroundRole


def cell(model, row: int, key: str, role: int = DISPLAY):
    return model.data(model.index(row, model.column_index(key)), role)


def headers(model) -> list[str]:
    return [model.headerData(i, Qt.Orientation.Horizontal) for i in range(model.columnCount())]


def provider(pid: int, name: str, **extra: object) -> dict:
    return {"id": pid, "name": name, "type": "openai", "base_url": "https://api.openai.com/v1",
            "api_key_set": True, "api_key_hint": "…a1b2", "headers": {"X-Title": "mp"},
            "timeout_s": 60.0, "enabled": True, "created_at": "2026-03-01T10:00:00Z",
            "updated_at": "2026-03-01T10:00:00Z", **extra}


def token(tid: int, name: str, **extra: object) -> dict:
    return {"id": tid, "name": name, "prefix": f"mpx_ab{tid}", "scopes": ["chat", "models"],
            "rpm": 60, "monthly_requests": 1000, "monthly_tokens": None,
            "allowed_ips": ["10.0.0.0/8"], "allowed_endpoints": [], "expires_at": None,
            "revoked": False, "created_at": "2026-03-01T10:00:00Z", "last_used_at": None,
            "usage_month": {"requests": 123, "tokens": 4567}, **extra}


def test_providers_model(qtmodeltester) -> None:
    model = ProvidersModel()
    model.set_rows([provider(1, "openai"),
                    provider(2, "local", type="echo", base_url="", api_key_set=False,
                             api_key_hint=None, headers={}, enabled=False, timeout_s=7.5)])
    assert headers(model) == ["Name", "Type", "Base URL", "API key", "Timeout (s)",
                              "Extra headers", "Enabled", "Created"]
    assert cell(model, 0, "api_key") == "set …a1b2"
    assert cell(model, 1, "api_key") == "not set"
    assert cell(model, 0, "headers") == "X-Title"
    assert cell(model, 1, "headers") == "—"
    assert cell(model, 1, "base_url") == "—"
    assert cell(model, 1, "timeout_s") == "7.5"
    assert cell(model, 1, "timeout_s", SORT_ROLE) == 7.5
    assert cell(model, 0, "enabled") == "yes" and cell(model, 1, "enabled") == "no"
    assert cell(model, 0, "created_at") == local_time("2026-03-01T10:00:00Z")
    assert cell(model, 1, "name", FOREGROUND) is not None  # disabled rows are greyed
    assert cell(model, 0, "name", FOREGROUND) is None
    assert cell(model, 1, "name", ROW_ROLE)["id"] == 2
    qtmodeltester.check(model)


def test_endpoints_model(qtmodeltester) -> None:
    model = EndpointsModel()
    model.set_rows([
        {"id": 1, "name": "chat", "path": "/api/chat", "kind": "chat", "model": "gpt-4o-mini",
         "provider_id": 3, "provider": "openai", "enabled": True, "price_input_per_m": 0.15,
         "price_output_per_m": 0.6},
        {"id": 2, "name": "embed", "path": "/api/embed", "kind": "embeddings", "model": "e",
         "provider_id": 9, "enabled": False, "price_input_per_m": None,
         "price_output_per_m": None}])
    assert headers(model) == ["Name", "Path", "Kind", "Model", "Provider", "Input $/M",
                              "Output $/M", "Enabled"]
    assert cell(model, 0, "provider") == "openai"
    assert cell(model, 1, "provider") == "#9"  # the page adds names; an unknown id still reads
    assert cell(model, 0, "price_input_per_m") == "0.15"
    assert cell(model, 0, "price_output_per_m", SORT_ROLE) == 0.6
    assert cell(model, 1, "price_input_per_m") == "—"
    assert cell(model, 0, "price_input_per_m", Qt.ItemDataRole.TextAlignmentRole) is not None
    qtmodeltester.check(model)


def test_tokens_model_shows_usage_against_quotas(qtmodeltester) -> None:
    past = "2020-01-01T00:00:00Z"
    model = TokensModel()
    model.set_rows([token(1, "laptop"),
                    token(2, "old", revoked=True, rpm=None, scopes=["all"], allowed_ips=[],
                          usage_month={"requests": 2000, "tokens": 0}, monthly_tokens=10),
                    token(3, "temp", expires_at=past, last_used_at="2026-03-02T08:00:00Z")])
    assert headers(model) == ["Name", "Prefix", "Scopes", "RPM", "Requests this month",
                              "Tokens this month", "Allowed IPs", "Expires", "Last used",
                              "Status"]
    assert cell(model, 0, "scopes") == "chat, models"
    assert cell(model, 0, "rpm") == "60" and cell(model, 1, "rpm") == "unlimited"
    assert cell(model, 0, "requests_month") == "123 / 1,000"
    assert cell(model, 0, "tokens_month") == "4,567 / unlimited"
    assert cell(model, 0, "requests_month", SORT_ROLE) == 123
    assert cell(model, 0, "requests_month", QUOTA_ROLE) == 0.123
    assert cell(model, 0, "tokens_month", QUOTA_ROLE) is None  # no quota, no bar
    assert cell(model, 1, "requests_month", QUOTA_ROLE) == 1.0  # capped
    assert cell(model, 1, "tokens_month", QUOTA_ROLE) == 0.0
    assert cell(model, 0, "allowed_ips") == "10.0.0.0/8"
    assert cell(model, 1, "allowed_ips") == "any"
    assert cell(model, 0, "expires_at") == "never" and cell(model, 0, "last_used_at") == "never"
    assert cell(model, 2, "last_used_at") == local_time("2026-03-02T08:00:00Z")
    assert [cell(model, i, "status") for i in range(3)] == ["active", "revoked", "expired"]
    assert cell(model, 0, "status", FOREGROUND) is None
    assert cell(model, 1, "status", FOREGROUND) is not None
    qtmodeltester.check(model)


def test_token_status_follows_expiry() -> None:
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert token_status({"expires_at": "2026-03-02T00:00:00Z"}, now) == "active"
    assert token_status({"expires_at": "2026-02-28T00:00:00Z"}, now) == "expired"
    assert token_status({"expires_at": "2026-02-28T00:00:00Z", "revoked": True}, now) == "revoked"


def test_admins_model(qtmodeltester) -> None:
    model = AdminsModel()
    model.set_rows([{"id": 1, "username": "admin", "role": "admin",
                     "created_at": "2026-03-01T10:00:00Z"},
                    {"id": 2, "username": "viewer", "role": "viewer", "created_at": None}])
    assert headers(model) == ["Username", "Role", "Created"]
    assert cell(model, 1, "role") == "viewer"
    assert cell(model, 1, "created_at") == "—"
    assert cell(model, 0, "username", SORT_ROLE) == "admin"
    qtmodeltester.check(model)


def test_settings_model(qtmodeltester) -> None:
    model = SettingsModel()
    model.set_rows([
        {"name": "log_retention_days", "value": 30, "default": 90, "source": "admin",
         "description": "Days request-log rows are kept."},
        {"name": "cors_origins", "value": [], "default": [], "source": "default",
         "description": "Browser origins."},
        {"name": "x", "value": ["https://a.example", "https://b.example"], "default": [],
         "source": "admin", "description": ""}])
    assert headers(model) == ["Setting", "Value", "Default", "Source", "Description"]
    assert cell(model, 0, "value") == "30" and cell(model, 0, "default") == "90"
    assert cell(model, 1, "value") == "—"
    assert cell(model, 2, "value") == '["https://a.example","https://b.example"]'
    assert cell(model, 0, "value", Qt.ItemDataRole.FontRole).bold()
    assert cell(model, 1, "value", Qt.ItemDataRole.FontRole) is None
    qtmodeltester.check(model)


def test_audit_model(qtmodeltester) -> None:
    model = AuditModel()
    model.set_rows([
        {"id": 7, "time": "2026-03-01T10:00:05Z", "actor": "admin", "source": "127.0.0.1",
         "action": "provider.update", "target_type": "provider", "target_id": 3,
         "changes": {"enabled": False, "name": "ü"}},
        {"id": 6, "time": "2026-03-01T10:00:00Z", "actor": "seed", "source": None,
         "action": "settings.update", "target_type": "settings", "target_id": None,
         "changes": {}}])
    model.append_rows([{"id": 5, "time": "2026-03-01T09:00:00Z", "actor": "cli",
                        "source": "cli", "action": "token.create", "target_type": "token",
                        "target_id": 1, "changes": {"name": "laptop"}}])
    assert headers(model) == ["Time", "Actor", "Source", "Action", "Target", "Changes"]
    assert model.rowCount() == 3
    assert cell(model, 0, "target") == "provider #3"
    assert cell(model, 1, "target") == "settings"
    assert cell(model, 0, "changes") == '{"enabled":false,"name":"ü"}'
    assert cell(model, 1, "changes") == "—"
    assert cell(model, 1, "source") == "—"
    assert cell(model, 0, "time", SORT_ROLE) == "2026-03-01T10:00:05Z"
    assert compact_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    qtmodeltester.check(model)
