"""The server's catalog on each database: a provider key it cannot open never stops tokens
and endpoints from loading (revocation always applies), a rotated secret key is picked up
from the key file (or from the rotation's pending file before the swap), and a reload after
a saved change does not fail the change."""

from __future__ import annotations

import peewee as pw
import pytest

from app.crypto import SecretBox, write_key_file
from app.db import connect
from app.errors import SecretKeyError
from app.models import Provider
from app.services import providers, secret_key, tokens
from server.catalog import Catalog


def _provider(box: SecretBox, actor, name: str, key: str) -> int:
    return providers.create(box, actor, name=name, type="openai_compatible",
                            base_url="http://127.0.0.1:9", api_key=key).id


def _catalog(settings, db: pw.Database, box: SecretBox) -> Catalog:
    catalog = Catalog(settings, box, db)
    catalog.reload()
    return catalog


def test_an_unopenable_provider_key_leaves_tokens_and_other_providers_working(
        db, settings, actor) -> None:
    box = secret_key.load_box(settings)
    good = _provider(box, actor, "good", "sk-good-provider-key")
    bad = _provider(box, actor, "bad", "sk-bad-provider-key")
    revoked, _ = tokens.create(actor, 4, name="revoked", scopes=["all"])
    running = _catalog(settings, db, box)
    Provider.update(api_key_encrypted=SecretBox("some other key " * 3).seal("sk-x")).where(
        Provider.id == bad).execute()  # sealed under a key this server does not have
    fresh, _ = tokens.create(actor, 4, name="fresh", scopes=["all"])
    tokens.revoke(actor, revoked.id)

    assert running.refresh_if_changed()  # no error: tokens apply whatever the keys do
    assert running.token(fresh.prefix) is not None and running.token(revoked.prefix).revoked
    assert running.providers[good].adapter is not None
    assert running.providers[bad].adapter is not None  # keeps the key it had opened

    started_now = _catalog(settings, db, box)  # never opened it: the provider is unusable
    assert started_now.providers[bad].adapter is None
    assert "cannot be decrypted" in started_now.providers[bad].problem
    assert started_now.providers[good].config.api_key == "sk-good-provider-key"


def test_a_rotation_under_the_catalog_is_picked_up(db, settings, actor) -> None:
    box = secret_key.load_box(settings)
    provider_id = _provider(box, actor, "p", "sk-provider-key-1")
    catalog = _catalog(settings, db, box)
    secret_key.rotate(settings, actor)
    assert catalog.refresh_if_changed()
    assert catalog.box is not box
    assert catalog.box.open(secret_key.sealed_check()) == secret_key.CHECK_TEXT
    assert catalog.providers[provider_id].config.api_key == "sk-provider-key-1"
    assert catalog.current_box() is catalog.box


def test_a_rotation_committed_but_not_yet_swapped_is_read_from_the_pending_file(
        db, settings, actor) -> None:
    box = secret_key.load_box(settings)
    _provider(box, actor, "p", "sk-provider-key-2")
    old_key = settings.key_file.read_text().strip()
    catalog = _catalog(settings, db, box)
    secret_key.rotate(settings, actor)
    new_key = settings.key_file.read_text().strip()
    # As the server may see it: the database committed, the key file not yet replaced.
    write_key_file(settings.key_file.with_name("secret.key.new"), new_key)
    write_key_file(settings.key_file, old_key)
    catalog.reload()
    assert catalog.box.open(catalog.box.seal("x")) == "x"
    assert secret_key.opens(catalog.box, secret_key.sealed_check())
    assert settings.key_file.read_text().strip() == old_key  # the server renames nothing


def test_a_key_the_server_cannot_read_refuses_sealing_new_provider_keys(
        db, settings, actor) -> None:
    box = secret_key.load_box(settings)
    catalog = _catalog(settings, db, box)
    secret_key.rotate(settings, actor)
    settings.key_file.unlink()  # the new key is nowhere this server can find it
    with pytest.raises(SecretKeyError, match="opens the stored provider keys"):
        catalog.current_box()


def test_a_reload_after_a_saved_change_does_not_raise_when_the_database_fails(
        db, settings) -> None:
    catalog = Catalog(settings, secret_key.load_box(settings),
                      connect("postgresql://nobody@127.0.0.1:1/none"))
    catalog.apply_change()  # logged; the watcher tries again
    assert catalog.tokens_by_prefix == {}


def test_headers_sealed_under_a_key_the_server_lacks_leave_the_reload_working(
        db, settings, actor) -> None:
    """A rotation this server cannot follow (MODELPROXY_SECRET_KEY) re-seals the headers
    too: the provider keeps what it had opened, and a reload after a saved change never
    fails that change's answer."""
    box = secret_key.load_box(settings)
    provider_id = providers.create(box, actor, name="h", type="openai_compatible",
                                   base_url="http://127.0.0.1:9", api_key="sk-header-test-1",
                                   headers={"X-Org": "org-secret-value-1"}).id
    running = _catalog(settings, db, box)
    other = SecretBox("some other key " * 3)
    Provider.update(api_key_encrypted=other.seal("sk-header-test-1"),
                    headers_encrypted=other.seal('{"X-Org": "org-secret-value-1"}')).where(
        Provider.id == provider_id).execute()
    fresh, _ = tokens.create(actor, 4, name="after", scopes=["all"])

    running.apply_change()  # does not raise
    assert running.token(fresh.prefix) is not None
    entry = running.providers[provider_id]
    assert entry.adapter is not None and entry.config.headers == {"X-Org": "org-secret-value-1"}
    started_now = _catalog(settings, db, box)  # never opened them: unusable, and says why
    assert started_now.providers[provider_id].adapter is None
    assert started_now.providers[provider_id].config.headers == {}
