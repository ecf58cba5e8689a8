"""Appliance settings kept in the database (the `setting` table), as JSON values."""

from __future__ import annotations

from typing import Any

from app.models import Setting, utcnow


def get_value(key: str, default: Any = None) -> Any:
    row = Setting.get_or_none(Setting.key == key)
    return default if row is None else row.value


def set_value(key: str, value: Any) -> None:
    Setting.insert(key=key, value=value, updated_at=utcnow()).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: value, Setting.updated_at: utcnow()}
    ).execute()
