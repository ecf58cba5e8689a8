"""Options an admin changes at run time (admin API `settings`), kept in the `setting` table.

Each has a default from the start-up Settings (flags, environment) or a constant; a value
stored here wins over it. The proxy reads them from its catalog, so changes apply at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.errors import ConflictError, ValidationError
from app.models import Setting, database_proxy
from app.services import admin_access, audit, stored_settings
from app.services.audit import Actor
from app.settings import Settings, env_name, parse_origins


@dataclass(frozen=True)
class Option:
    description: str
    default: Callable[[Settings], Any]
    check: Callable[[Any], Any]
    # The start-up setting, when set, is in force and a stored value may not be saved (see
    # app/services/admin_access.py for why the admin allow-list works so).
    env_wins: bool = False


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return check


def _origin_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of origins such as https://app.example.com")
    return list(parse_origins(value))


def _webhook_url(value: Any) -> str:
    """An http(s) URL, or "" for none."""
    if not isinstance(value, str) or len(value) > 2000:
        raise ValueError("must be an http:// or https:// URL, or empty for none")
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, or empty for none")
    return value


OPTIONS: dict[str, Option] = {
    "log_retention_days": Option("Days request-log rows are kept (rollups are kept).",
                                 lambda s: 90, _whole(1, 3650)),
    "cors_origins": Option("Browser origins allowed to call the client API (exact match).",
                           lambda s: list(s.cors_origins), _origin_list),
    "max_body_bytes": Option("Largest client request body, in bytes.",
                             lambda s: s.max_body_bytes, _whole(1024, 1024**3)),
    "provider_check_minutes": Option("Minutes between provider health checks.",
                                     lambda s: 5, _whole(1, 1440)),
    "backups_kept": Option("Nightly SQLite backups kept in data/backups.",
                           lambda s: 7, _whole(1, 365)),
    "quota_reserve_tokens": Option(
        "Model tokens held against a token's monthly quota, until its answer is counted, "
        "for a chat request that sets no max_tokens (on top of its prompt).",
        lambda s: 1024, _whole(0, 1_000_000)),
    "route_attempts": Option(
        "Most attempts one request makes across an endpoint's targets (the first and its "
        "fallbacks).", lambda s: 3, _whole(1, 10)),
    "route_time_budget_s": Option(
        "Seconds after a request's start past which no new attempt (fallback) starts.",
        lambda s: 120, _whole(1, 600)),
    "cooldown_failures": Option(
        "Failures of a target within cooldown_window_s that put it in cool-down (skipped).",
        lambda s: 3, _whole(1, 100)),
    "cooldown_window_s": Option(
        "Seconds within which a target's failures are counted toward a cool-down.",
        lambda s: 60, _whole(1, 3600)),
    "cooldown_s": Option(
        "Seconds a failing target is skipped; then one request tries it (half-open) and "
        "its answer closes or re-opens the cool-down.", lambda s: 30, _whole(1, 86400)),
    "budget_webhook_url": Option(
        "URL sent a JSON POST when a token's or endpoint's month spend crosses 80 % or "
        "100 % of its monthly budget (empty: none).", lambda s: "", _webhook_url),
    admin_access.OPTION: Option(
        "Addresses (IPs, CIDRs) that may use the admin API and /metrics; empty: any address "
        "(/metrics: loopback). MODELPROXY_ADMIN_ALLOW, when set, wins.",
        lambda s: list(s.admin_allow), admin_access.check_list, env_wins=True),
}


def _from_environment(settings: Settings, name: str) -> bool:
    option = OPTIONS[name]
    return option.env_wins and bool(option.default(settings))


def effective(settings: Settings) -> dict[str, Any]:
    """Every option's value in force."""
    stored = {row.key: row.value for row in Setting.select().where(Setting.key.in_(list(OPTIONS)))}
    return {name: option.default(settings) if _from_environment(settings, name)
            else stored.get(name, option.default(settings)) for name, option in OPTIONS.items()}


def describe(settings: Settings) -> list[dict[str, Any]]:
    stored = {row.key for row in Setting.select(Setting.key).where(Setting.key.in_(list(OPTIONS)))}
    values = effective(settings)
    return [{"name": name, "value": values[name], "default": option.default(settings),
             "source": "environment" if _from_environment(settings, name)
             else "admin" if name in stored else "default",
             "description": option.description} for name, option in OPTIONS.items()]


def update(settings: Settings, actor: Actor, changes: dict[str, Any]) -> dict[str, Any]:
    """Set some options (null puts one back to its default); all checked before any is saved."""
    clean = {name: checked(settings, actor, name, value) for name, value in changes.items()}
    with database_proxy.atomic():
        for name, value in clean.items():
            if value is None:
                Setting.delete().where(Setting.key == name).execute()
            else:
                stored_settings.set_value(name, value)
        audit.record(actor, "settings.update", "settings", None, clean)
    return effective(settings)


def checked(settings: Settings, actor: Actor, name: str, value: Any) -> Any:
    """`value` for option `name` as it would be saved (None: back to the default), or a
    ValidationError naming the option."""
    option = OPTIONS.get(name)
    if option is None:
        raise ValidationError(f"unknown setting {name!r}; settings are "
                              f"{', '.join(OPTIONS)}", name)
    if _from_environment(settings, name):
        raise ConflictError(f"{name} is set by {env_name(name)} in the server's environment, "
                            "which wins over a stored value; change it there", name)
    try:
        clean = None if value is None else option.check(value)
    except ValueError as exc:
        raise ValidationError(f"{name} {exc}", name) from None
    if name == admin_access.OPTION and admin_access.shuts_out(clean or [], actor.source):
        raise ValidationError(admin_access.shut_out_message(str(actor.source)), name)
    return clean
