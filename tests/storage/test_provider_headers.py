"""Providers' extra header values are sealed like their keys: the database, the public shape
and the audit log hold hints only; an edit that sends a hint back keeps the stored value; a
rotation re-seals them; and the migration seals the plaintext of existing rows."""

from __future__ import annotations

import datetime as dt
import json

import peewee as pw
import pytest

from app import migrations
from app.crypto import SecretBox, new_secret_key, write_key_file
from app.db import connect, open_database
from app.errors import SecretKeyError, StorageError, ValidationError
from app.models import AuditEntry, Provider
from app.services import providers, secret_key

# The schema just before the step that seals header values (found by name: another step may
# be numbered before it when branches meet).
BEFORE_SEALING = next(i for i, step in enumerate(migrations.STEPS)
                      if step.endswith("_sealed_headers"))
ORG_KEY = "org-credential-0042-9f3e"  # a header value that is a credential
HINT = "…9f3e"


@pytest.fixture
def box(db, settings):
    return secret_key.load_box(settings)


def _stored_text(provider_id: int) -> str:
    row = Provider.select().where(Provider.id == provider_id).dicts().get()
    return json.dumps(row, default=str)


def test_header_values_are_sealed_and_shown_as_hints(db, box, actor) -> None:
    p = providers.create(box, actor, name="org", type="openai", api_key="sk-key-value-abcd",
                         headers={"X-Org-Key": ORG_KEY, "X-Title": "ModelProxy"})
    assert ORG_KEY not in _stored_text(p.id)
    row = Provider.get_by_id(p.id)
    assert providers.header_values(box, row) == {"X-Org-Key": ORG_KEY, "X-Title": "ModelProxy"}
    assert providers.to_dict(row)["headers"] == {"X-Org-Key": HINT, "X-Title": "…"}
    changes = AuditEntry.get(AuditEntry.action == "provider.create").changes
    assert changes["headers"] == {"X-Org-Key": HINT, "X-Title": "…"}
    assert ORG_KEY not in json.dumps(changes)


def test_an_edit_sending_hints_back_keeps_the_stored_values(db, box, actor) -> None:
    p = providers.create(box, actor, name="org", type="openai",
                         headers={"X-Org-Key": ORG_KEY, "X-Team": "team-blue-000001"})
    shown = providers.to_dict(p)["headers"]
    # what a window does: every field sent back as it was shown, one header changed
    providers.update(box, actor, p.id, name="org2", headers={**shown, "X-Team": "red"})
    row = Provider.get_by_id(p.id)
    assert providers.header_values(box, row) == {"X-Org-Key": ORG_KEY, "X-Team": "red"}
    # no `headers`: all kept; a name left out of `headers`: removed
    providers.update(box, actor, p.id, timeout_s=5)
    assert providers.header_values(box, Provider.get_by_id(p.id))["X-Org-Key"] == ORG_KEY
    providers.update(box, actor, p.id, headers={"X-Team": "…"})
    row = Provider.get_by_id(p.id)
    assert providers.header_values(box, row) == {"X-Team": "red"}
    providers.update(box, actor, p.id, headers={})
    row = Provider.get_by_id(p.id)
    assert row.headers_encrypted is None and providers.header_values(box, row) == {}
    audit = json.dumps([e.changes for e in AuditEntry.select()])
    assert ORG_KEY not in audit and "team-blue-000001" not in audit


def test_a_hint_for_a_header_with_no_stored_value_is_refused(db, box, actor) -> None:
    p = providers.create(box, actor, name="org", type="openai", headers={"X-Org-Key": ORG_KEY})
    with pytest.raises(ValidationError, match="X-Other is a hint") as err:
        providers.update(box, actor, p.id, headers={"X-Org-Key": HINT, "X-Other": "…abcd"})
    assert err.value.field == "headers"
    with pytest.raises(ValidationError, match="is a hint"):
        providers.create(box, actor, name="new", type="openai", headers={"X-A": "…"})
    assert providers.header_values(box, Provider.get_by_id(p.id)) == {"X-Org-Key": ORG_KEY}


def test_rotation_reseals_header_values(db, settings, box, actor) -> None:
    p = providers.create(box, actor, name="org", type="openai", headers={"X-Org-Key": ORG_KEY})
    before = Provider.get_by_id(p.id).headers_encrypted
    secret_key.rotate(settings, actor)
    new_box = secret_key.load_box(settings)
    row = Provider.get_by_id(p.id)
    assert row.headers_encrypted != before
    assert providers.header_values(new_box, row) == {"X-Org-Key": ORG_KEY}


def _insert_legacy_rows(db: pw.Database) -> None:
    """A provider and its audit entry as version 4 stored them: header values in plaintext."""
    when = dt.datetime(2026, 1, 1)
    db.execute_sql(
        "INSERT INTO provider (name, type, base_url, headers, timeout_s, enabled, created_at, "
        "updated_at) VALUES ('legacy', 'openai_compatible', 'http://127.0.0.1:9/v1', %s, 60, "
        "%s, %s, %s)".replace("%s", db.param),
        (json.dumps({"X-Org-Key": ORG_KEY, "X-Title": "kept"}), True, when, when))
    db.execute_sql(
        "INSERT INTO audit_entry (time, actor, source, action, target_type, target_id, changes) "
        "VALUES (%s, 'tester', 'cli', 'provider.create', 'provider', 1, %s)"
        .replace("%s", db.param),
        (when, json.dumps({"name": "legacy", "headers": {"X-Org-Key": ORG_KEY}})))


def test_the_migration_seals_existing_plaintext_headers_and_keeps_them(settings) -> None:
    old = connect(settings.database)
    with old.connection_context():
        migrations.migrate(old, target=BEFORE_SEALING)
        _insert_legacy_rows(old)
    old.close_all()

    db = open_database(settings)  # what the next start does: migrates with the key
    try:
        with db.connection_context():
            assert migrations.current_version(db) == migrations.LATEST
            row = Provider.get(Provider.name == "legacy")
            assert ORG_KEY not in _stored_text(row.id)
            box = secret_key.load_box(settings)
            assert providers.header_values(box, row) == {"X-Org-Key": ORG_KEY, "X-Title": "kept"}
            assert providers.to_dict(row)["headers"] == {"X-Org-Key": HINT, "X-Title": "…"}
            audited = AuditEntry.get(AuditEntry.action == "provider.create").changes
            assert audited == {"name": "legacy", "headers": {"X-Org-Key": HINT}}
    finally:
        db.close_all()
    assert settings.key_file.exists()  # the key the values were sealed with was kept


def test_the_migration_without_a_key_refuses_rather_than_keep_plaintext(settings) -> None:
    db = connect(settings.database)
    with db.connection_context():
        migrations.migrate(db, target=BEFORE_SEALING)
        _insert_legacy_rows(db)
        with pytest.raises(StorageError, match="needs the secret key"):
            migrations.migrate(db)
        assert migrations.current_version(db) == BEFORE_SEALING
    db.close_all()


def test_the_migration_seals_with_the_key_the_stored_check_names(settings) -> None:
    """An appliance that sealed provider keys before has a key check: the step reads it
    through its own copy of the setting table and seals with the key that opens it, or
    refuses (and applies nothing) when the key at hand does not."""
    right, wrong = new_secret_key(), new_secret_key()
    old = connect(settings.database)
    with old.connection_context():
        migrations.migrate(old, target=BEFORE_SEALING)
        _insert_legacy_rows(old)
        old.execute_sql(
            "INSERT INTO setting (key, value, updated_at) VALUES (%s, %s, %s)"
            .replace("%s", old.param),
            (secret_key.CHECK_KEY, json.dumps(SecretBox(right).seal("any text")),
             dt.datetime(2026, 1, 1)))
    old.close_all()

    write_key_file(settings.key_file, wrong)
    with pytest.raises(SecretKeyError):
        open_database(settings)
    check = connect(settings.database)
    with check.connection_context():
        assert migrations.current_version(check) == BEFORE_SEALING
    check.close_all()

    write_key_file(settings.key_file, right)
    db = open_database(settings)
    try:
        with db.connection_context():
            row = Provider.get(Provider.name == "legacy")
            assert providers.header_values(SecretBox(right), row)["X-Org-Key"] == ORG_KEY
    finally:
        db.close_all()
