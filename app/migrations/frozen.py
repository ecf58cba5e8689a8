"""Frozen copies, for the migration steps, of what they share with the live models: a step
must keep meaning what it meant when it was written, whatever app.models becomes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import peewee as pw


def utcnow() -> dt.datetime:
    """Now, as the naive UTC datetime every table stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JSONField(pw.TextField):
    """A JSON value stored as compact text, as the steps wrote it."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)
