"""Numbered, forward-only schema steps and the runner that applies them.

Each step is a module `mNNNN_name.py` with `up(db)`, listed in STEPS in order. A step
declares frozen copies of the tables and fields it uses (`frozen.py` has the shared ones;
never app.models or the services), so it keeps meaning the same thing after the live code
moves on. A step that must seal data sets `USES_SECRET_BOX = True` and gets
`up(db, open_box)`: `open_box(sealed_check)` gives the appliance's SecretBox for the stored
key check the step read (None: nothing sealed yet), touching no table; `open_box` is None
when the caller has no key to give.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import peewee as pw

from app.migrations.frozen import utcnow

STEPS = ["m0001_config", "m0002_history", "m0003_analytics", "m0004_log_endpoint_index",
         "m0005_upstream_errors", "m0006_sealed_headers", "m0007_dialects_aliases",
         "m0008_routes"]
LATEST = len(STEPS)


class SchemaVersion(pw.Model):
    version = pw.IntegerField(primary_key=True)
    applied_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "schema_version"


def current_version(db: pw.Database) -> int:
    """The highest applied step, 0 for an empty database."""
    with db.bind_ctx([SchemaVersion]):
        if not SchemaVersion.table_exists():
            return 0
        return SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar() or 0


def migrate(db: pw.Database, target: int = LATEST,
            open_box: Callable[[str | None], Any] | None = None) -> list[int]:
    """Apply the steps above the current version up to `target`; return the ones applied.

    Each step runs in its own transaction, under a lock, so two processes starting
    together apply it once. `open_box` is for the steps that seal data.
    """
    applied = []
    with db.bind_ctx([SchemaVersion]):
        SchemaVersion.create_table(safe=True)
        for version in range(1, target + 1):
            with _locked_transaction(db):
                if SchemaVersion.get_or_none(SchemaVersion.version == version):
                    continue
                step = importlib.import_module(f"{__name__}.{STEPS[version - 1]}")
                if getattr(step, "USES_SECRET_BOX", False):
                    step.up(db, open_box)
                else:
                    step.up(db)
                SchemaVersion.create(version=version)
                applied.append(version)
    return applied


@contextmanager
def _locked_transaction(db: pw.Database) -> Iterator[None]:
    if isinstance(db, pw.PostgresqlDatabase):
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext('modelproxy.migrate'))")
            yield
    else:
        with db.atomic("IMMEDIATE"):  # SQLite: take the write lock before reading the version
            yield
