"""Version 6: providers' extra header values sealed like their API keys.

Header values are often credentials (an organisation id, a second key), yet they were
stored and shown in plaintext. `provider.headers_encrypted` now holds them sealed (a Fernet
token of the JSON object) and `provider.headers` only their hints; the plaintext of
existing rows is moved into the sealed form, and the audit log's copies of header values
become hints too. Sealing needs the secret key, so this step is given `open_box`; it reads
the stored key check through its own copy of the `setting` table (and stores one when none
was), so nothing here depends on the live models.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate

from app.errors import StorageError
from app.migrations.frozen import JSONField, utcnow

USES_SECRET_BOX = True  # the runner passes `open_box` to up()


class Base(pw.Model):
    class Meta:
        legacy_table_names = False


class Provider(Base):
    headers = JSONField(default=dict)
    headers_encrypted = pw.TextField(null=True)


class AuditEntry(Base):
    id = pw.BigAutoField()
    target_type = pw.CharField(max_length=30)
    changes = JSONField(default=dict)


class Setting(Base):
    key = pw.CharField(max_length=100, primary_key=True)
    value = JSONField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)


CHECK_KEY = "secret_key_check"  # frozen copies of app.services.secret_key's
CHECK_TEXT = "modelproxy-key-check"


def hint(value: str) -> str:
    """Frozen copy of app.crypto.header_hint as this step wrote it."""
    return "…" + value[-4:] if len(value) >= 12 else "…"


def up(db: pw.Database, open_box: Callable[[str | None], Any] | None) -> None:
    migrate(SchemaMigrator.from_database(db).add_column(
        "provider", "headers_encrypted", pw.TextField(null=True)))
    with db.bind_ctx([Provider, AuditEntry, Setting]):
        _seal_provider_headers(open_box)
        _hint_audited_headers()


def _seal_provider_headers(open_box: Callable[[str | None], Any] | None) -> None:
    rows = [p for p in Provider.select(Provider.id, Provider.headers) if p.headers]
    if not rows:
        return
    if open_box is None:
        raise StorageError("sealing the providers' header values needs the secret key")
    stored = Setting.get_or_none(Setting.key == CHECK_KEY)
    sealed_check = stored.value if stored else None
    box = open_box(sealed_check)
    if sealed_check is None:  # the key just found (or made) is the appliance's from now on
        Setting.create(key=CHECK_KEY, value=box.seal(CHECK_TEXT))
    for row in rows:
        values = {str(name): str(value) for name, value in row.headers.items()}
        (Provider.update(headers={name: hint(value) for name, value in values.items()},
                         headers_encrypted=box.seal(json.dumps(values)))
         .where(Provider.id == row.id).execute())


def _hint_audited_headers() -> None:
    query = AuditEntry.select(AuditEntry.id, AuditEntry.changes).where(
        AuditEntry.target_type == "provider")
    for entry in query:
        headers = (entry.changes or {}).get("headers")
        if not isinstance(headers, dict):
            continue
        changes = {**entry.changes,
                   "headers": {name: hint(str(value)) for name, value in headers.items()}}
        AuditEntry.update(changes=changes).where(AuditEntry.id == entry.id).execute()
