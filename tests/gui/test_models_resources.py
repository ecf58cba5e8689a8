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
from gui.models.routes import health_text

DISPLAY = Qt.ItemDataRole.DisplayRole
FOREGROUND = Qt.ItemDataRole.ForegroundRole




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
    assert model.headers() == ["Name", "Type", "Base URL", "API key", "Timeout (s)",
                              "Extra headers", "Enabled", "Targets", "Created"]
    assert model.cell(0, "api_key") == "set …a1b2"
    assert model.cell(1, "api_key") == "not set"
    assert model.cell(0, "headers") == "X-Title"
    assert model.cell(1, "headers") == "—"
    assert model.cell(1, "base_url") == "—"
    assert model.cell(1, "timeout_s") == "7.5"
    assert model.cell(1, "timeout_s", SORT_ROLE) == 7.5
    assert model.cell(0, "enabled") == "yes" and model.cell(1, "enabled") == "no"
    assert model.cell(0, "created_at") == local_time("2026-03-01T10:00:00Z")
    assert model.cell(1, "name", FOREGROUND) is not None  # disabled rows are greyed
    assert model.cell(0, "name", FOREGROUND) is None
    assert model.cell(1, "name", ROW_ROLE)["id"] == 2
    qtmodeltester.check(model)


def route(tid: int, provider: str, model: str, priority: int, state: str = "healthy",
          **extra: object) -> dict:
    health = {"state": state, "cooling_for_s": 12.4 if state == "cooling" else None,
              "recent_failures": 3 if state != "healthy" else 0,
              "last_error": "upstream 503: overloaded" if state != "healthy" else None,
              "last_status": 503 if state != "healthy" else None}
    return {"id": tid, "provider_id": tid, "provider": provider, "model": model,
            "priority": priority, "weight": 1, "enabled": True, "health": health, **extra}


def test_endpoints_model(qtmodeltester) -> None:
    model = EndpointsModel()
    model.set_rows([
        {"id": 1, "name": "chat", "path": "/api/chat", "kind": "chat", "model": "gpt-4o",
         "provider_id": 1, "provider": "openai", "enabled": True,
         "aliases": ["claude-sonnet-4-5", "gpt-5"], "monthly_budget": 10.0,
         "spent_this_month": 8.5,
         "targets": [route(1, "openai", "gpt-4o", 0), route(2, "local", "llama3", 1),
                     route(3, "openrouter", "gpt-4o", 2)]},
        {"id": 2, "name": "embed", "path": "/api/embed", "kind": "embeddings", "model": "e",
         "provider_id": 9, "enabled": False, "monthly_budget": None, "spent_this_month": 0,
         "targets": [route(9, "local", "e", 0, "cooling"),
                     route(8, "spare", "e2", 0, "half_open"),
                     route(7, "off", "e3", 1, enabled=False)]},
        {"id": 3, "name": "old", "path": "/api/old", "kind": "chat", "model": "m",
         "provider_id": 4, "provider": "echo", "enabled": True}])  # a server before routes
    assert model.headers() == ["Name", "Path", "Kind", "Targets", "Aliases", "Budget",
                              "Spent this month", "Enabled"]
    assert model.cell(0, "targets") == "openai: gpt-4o → local: llama3 (+1)"
    assert model.cell(1, "targets") == "❄ local: e | ◐ spare: e2"  # one priority: by weight
    assert model.cell(2, "targets") == "echo: m"
    tip = model.cell(1, "targets", Qt.ItemDataRole.ToolTipRole)
    assert "1. local: e (priority 0, weight 1) — cooling for 12 s (3 recent failures); " \
           "last error: upstream 503: overloaded" in tip
    assert "half-open" in tip and "3. off: e3 (priority 1, weight 1) — disabled" in tip
    assert model.cell(0, "targets", FOREGROUND) is None
    assert model.cell(0, "aliases") == "claude-sonnet-4-5, gpt-5"
    assert model.cell(1, "aliases") == "—"
    assert model.cell(0, "monthly_budget") == "$10.00"
    assert model.cell(1, "monthly_budget") == "none"
    assert model.cell(0, "spent_this_month") == "⚠ $8.50 (85 %)"
    assert model.cell(0, "spent_this_month", SORT_ROLE) == 8.5
    assert model.cell(0, "spent_this_month", FOREGROUND) is not None
    assert model.cell(1, "spent_this_month") == "—"
    assert model.cell(1, "name", FOREGROUND) is not None  # disabled rows are greyed
    qtmodeltester.check(model)


def test_an_unhealthy_target_colours_the_targets_cell() -> None:
    model = EndpointsModel()
    model.set_rows([{"id": 1, "name": "chat", "enabled": True,
                     "targets": [route(1, "openai", "gpt-4o", 0, "cooling")]}])
    assert model.cell(0, "targets", FOREGROUND) is not None


def test_providers_show_the_health_of_the_targets_using_them(qtmodeltester) -> None:
    healthy = {"state": "healthy", "recent_failures": 0}
    cooling = {"state": "cooling", "cooling_for_s": 29.6, "recent_failures": 3,
               "last_error": "connection refused", "last_status": None}
    model = ProvidersModel()
    model.set_rows([
        provider(1, "openai", targets_health=[
            {"target_id": 1, "endpoint_id": 1, "endpoint": "chat", "model": "gpt-4o",
             "health": cooling},
            {"target_id": 4, "endpoint_id": 2, "endpoint": "coder", "model": "gpt-4o",
             "health": healthy}]),
        provider(2, "local", targets_health=[
            {"target_id": 2, "endpoint_id": 1, "endpoint": "chat", "model": "llama3",
             "health": healthy}]),
        provider(3, "spare", targets_health=[])])
    assert [model.cell(i, "targets_health") for i in range(3)] == [
        "2 targets, 1 cooling", "1 healthy", "—"]
    assert model.cell(0, "targets_health", Qt.ItemDataRole.ToolTipRole) == (
        "chat: gpt-4o — cooling for 30 s (3 recent failures); last error: connection "
        "refused\ncoder: gpt-4o — healthy")
    assert model.cell(0, "targets_health", FOREGROUND) is not None
    assert model.cell(1, "targets_health", FOREGROUND) is None
    qtmodeltester.check(model)


def test_tokens_model_shows_usage_against_quotas(qtmodeltester) -> None:
    past = "2020-01-01T00:00:00Z"
    model = TokensModel()
    model.set_rows([token(1, "laptop"),
                    token(2, "old", revoked=True, rpm=None, scopes=["all"], allowed_ips=[],
                          usage_month={"requests": 2000, "tokens": 0}, monthly_tokens=10),
                    token(3, "temp", expires_at=past, last_used_at="2026-03-02T08:00:00Z")])
    assert model.headers() == ["Name", "Prefix", "Scopes", "RPM", "Requests this month",
                              "Tokens this month", "Budget", "Spent this month",
                              "Allowed IPs", "Expires", "Last used", "Status"]
    assert model.cell(0, "scopes") == "chat, models"
    assert model.cell(0, "rpm") == "60" and model.cell(1, "rpm") == "unlimited"
    assert model.cell(0, "requests_month") == "123 / 1,000"
    assert model.cell(0, "tokens_month") == "4,567 / unlimited"
    assert model.cell(0, "requests_month", SORT_ROLE) == 123
    assert model.cell(0, "requests_month", QUOTA_ROLE) == 0.123
    assert model.cell(0, "tokens_month", QUOTA_ROLE) is None  # no quota, no bar
    assert model.cell(1, "requests_month", QUOTA_ROLE) == 1.0  # capped
    assert model.cell(1, "tokens_month", QUOTA_ROLE) == 0.0
    assert model.cell(0, "allowed_ips") == "10.0.0.0/8"
    assert model.cell(1, "allowed_ips") == "any"
    assert model.cell(0, "expires_at") == "never" and model.cell(0, "last_used_at") == "never"
    assert model.cell(2, "last_used_at") == local_time("2026-03-02T08:00:00Z")
    assert [model.cell(i, "status") for i in range(3)] == ["active", "revoked", "expired"]
    assert model.cell(0, "status", FOREGROUND) is None
    assert model.cell(1, "status", FOREGROUND) is not None
    qtmodeltester.check(model)


def test_tokens_model_marks_spend_near_and_over_the_budget(qtmodeltester) -> None:
    model = TokensModel()
    model.set_rows([token(1, "laptop", monthly_budget=5.0, spent_this_month=1.0),
                    token(2, "ci", monthly_budget=5.0, spent_this_month=4.0),
                    token(3, "bot", monthly_budget=5.0, spent_this_month=5.2),
                    token(4, "free", monthly_budget=None, spent_this_month=0.0042),
                    token(5, "old")])  # a server before budgets
    assert [model.cell(i, "monthly_budget") for i in range(5)] == [
        "$5.00", "$5.00", "$5.00", "none", "none"]
    assert [model.cell(i, "spent_this_month") for i in range(5)] == [
        "$1.00", "⚠ $4.00 (80 %)", "✖ $5.20 (104 %)", "$0.0042", "—"]
    colours = [model.cell(i, "spent_this_month", FOREGROUND) for i in range(5)]
    assert colours[0] is None and colours[3] is None
    assert colours[1] is not None and colours[2] is not None and colours[1] != colours[2]
    assert model.cell(2, "spent_this_month", SORT_ROLE) == 5.2
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
    assert model.headers() == ["Username", "Role", "Created"]
    assert model.cell(1, "role") == "viewer"
    assert model.cell(1, "created_at") == "—"
    assert model.cell(0, "username", SORT_ROLE) == "admin"
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
    assert model.headers() == ["Setting", "Value", "Default", "Source", "Description"]
    assert model.cell(0, "value") == "30" and model.cell(0, "default") == "90"
    assert model.cell(1, "value") == "—"
    # A list of addresses reads as the setup dialog and the edit dialog write it.
    assert model.cell(2, "value") == "https://a.example, https://b.example"
    assert model.cell(0, "value", Qt.ItemDataRole.FontRole).bold()
    assert model.cell(1, "value", Qt.ItemDataRole.FontRole) is None
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
    assert model.headers() == ["Time", "Actor", "Source", "Action", "Target", "Changes"]
    assert model.rowCount() == 3
    assert model.cell(0, "target") == "provider #3"
    assert model.cell(1, "target") == "settings"
    assert model.cell(0, "changes") == '{"enabled":false,"name":"ü"}'
    assert model.cell(1, "changes") == "—"
    assert model.cell(1, "source") == "—"
    assert model.cell(0, "time", SORT_ROLE) == "2026-03-01T10:00:05Z"
    assert compact_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    qtmodeltester.check(model)


def test_a_health_the_server_did_not_give_is_not_called_healthy() -> None:
    assert health_text(None) == "health not known"
    assert health_text({"state": "healthy", "recent_failures": 1, "last_error": "timeout",
                        "last_status": None}) == (
        "healthy (1 recent failure); last error: timeout")
    # Walk: "last error: 503 provider openai-main answered 503: ..." (the status twice).
    cooling = {"state": "cooling", "cooling_for_s": 6.2, "recent_failures": 3,
               "last_status": 503, "last_error": "provider a answered 503: overloaded"}
    assert health_text(cooling) == ("cooling for 6 s (3 recent failures); last error: "
                                    "provider a answered 503: overloaded")
    assert health_text({**cooling, "last_error": "overloaded"}).endswith(
        "last error: 503 overloaded")
