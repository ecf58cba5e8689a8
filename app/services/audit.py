"""The admin audit log: who changed what, from where. Never holds secrets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from app.crypto import header_hint
from app.models import AuditEntry
from app.services.validation import iso

SECRET_FIELDS = frozenset({"api_key", "password", "token", "secret_hash", "password_hash"})
HINTED_FIELDS = frozenset({"headers"})  # {name: value} whose values may be credentials


class Actor:
    """Who is acting and from where, e.g. Actor("alice", "10.0.0.5") or Actor.cli()."""

    def __init__(self, name: str, source: str | None = None) -> None:
        self.name = name
        self.source = source

    @classmethod
    def cli(cls) -> Actor:
        import getpass

        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(f"cli:{user}", "cli")


def record(
    actor: Actor, action: str, target_type: str, target_id: int | None, changes: dict[str, Any]
) -> AuditEntry:
    """Write one audit entry; secret fields are reduced to "(changed)", header values to
    their hints."""
    safe = {k: _safe(k, v) for k, v in changes.items()}
    return AuditEntry.create(
        actor=actor.name,
        source=actor.source,
        action=action,
        target_type=target_type,
        target_id=target_id,
        changes=safe,
    )


def _safe(field: str, value: Any) -> Any:
    if field in SECRET_FIELDS:
        return "(changed)"
    if field in HINTED_FIELDS and isinstance(value, dict):
        return {name: header_hint(str(item)) for name, item in value.items()}
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return str(value)
    return value
