"""The admin audit log: who changed what, from where. Never holds secrets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from app.models import AuditEntry
from app.services.validation import iso

SECRET_FIELDS = frozenset({"api_key", "password", "token", "secret_hash", "password_hash"})


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
    """Write one audit entry; secret fields are reduced to "(changed)"."""
    safe = {k: ("(changed)" if k in SECRET_FIELDS else _jsonable(v)) for k, v in changes.items()}
    return AuditEntry.create(
        actor=actor.name,
        source=actor.source,
        action=action,
        target_type=target_type,
        target_id=target_id,
        changes=safe,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return str(value)
    return value
