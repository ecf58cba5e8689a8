"""Domain services on both databases: what they store, and the clear errors for bad input."""

from __future__ import annotations

import bcrypt
import pytest

from app.crypto import SecretBox, dummy_hash
from app.errors import ConflictError, NotFoundError, ValidationError
from app.models import AuditEntry, Endpoint, Provider, Token
from app.services import admins, endpoints, providers, tokens

BOX = SecretBox("k" * 40)


@pytest.fixture
def echo(db, actor) -> Provider:
    return providers.create(BOX, actor, name="echo", type="echo")


# --- providers ------------------------------------------------------------------------


def test_provider_key_is_sealed_and_only_hinted(db, actor) -> None:
    p = providers.create(BOX, actor, name="oa", type="openai", api_key="sk-secret-value-a1b2")
    row = Provider.get_by_id(p.id)
    assert "sk-secret" not in row.api_key_encrypted
    assert providers.api_key(BOX, row) == "sk-secret-value-a1b2"
    shown = providers.to_dict(row)
    assert shown["api_key_set"] is True and shown["api_key_hint"] == "…a1b2"
    assert "api_key" not in shown and "sk-secret" not in str(shown)
    assert row.base_url == "https://api.openai.com/v1"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "", "type": "echo"}, "name", "name is required"),
        ({"name": "x", "type": "nope"}, "type", "type must be one of anthropic, echo, openai"),
        ({"name": "x", "type": "openai_compatible"}, "base_url", "base_url is required"),
        ({"name": "x", "type": "openai", "base_url": "ftp://h"}, "base_url", "http:// or https"),
        ({"name": "x", "type": "openai", "base_url": "not a url"}, "base_url", "http://"),
        ({"name": "x", "type": "echo", "timeout_s": -1}, "timeout_s", "more than 0"),
        ({"name": "x", "type": "echo", "headers": {"bad name": "v"}}, "headers", "header name"),
        ({"name": "x", "type": "echo", "api_key": "two words"}, "api_key", "one word"),
        ({"name": "x", "type": "echo", "colour": "red"}, "colour", "unknown field"),
    ],
)
def test_provider_validation(db, actor, fields, field, message) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        providers.create(BOX, actor, **fields)
    assert info.value.field == field
    assert Provider.select().count() == 0


def test_provider_duplicate_name_is_a_conflict(db, actor, echo) -> None:
    with pytest.raises(ConflictError, match="already exists"):
        providers.create(BOX, actor, name="ECHO", type="echo")


def test_provider_update_and_key_removal(db, actor) -> None:
    p = providers.create(BOX, actor, name="oa", type="openai", api_key="sk-aaaaaaaaaaaa")
    providers.update(BOX, actor, p.id, timeout_s=5, api_key="", enabled=False)
    row = Provider.get_by_id(p.id)
    assert (row.timeout_s, row.enabled, row.api_key_encrypted, row.api_key_hint) == (
        5.0, False, None, None)


def test_provider_in_use_cannot_be_deleted(db, actor, echo) -> None:
    endpoints.create(actor, name="chat", path="/api/chat", kind="chat", model="m",
                     provider="echo")
    with pytest.raises(ConflictError, match="used by endpoint"):
        providers.delete(actor, echo.id)
    assert Provider.select().count() == 1


# --- endpoints ------------------------------------------------------------------------


def test_endpoint_create_by_provider_name_or_id(db, actor, echo) -> None:
    a = endpoints.create(actor, name="a", path="/api/a", kind="chat", model="m", provider="echo")
    b = endpoints.create(actor, name="b", path="/api/v2/b", kind="embeddings", model="e",
                         provider_id=echo.id)
    assert endpoints.to_dict(a)["provider_id"] == echo.id == b.provider_id
    assert [e.name for e in endpoints.list_all()] == ["a", "b"]
    assert endpoints.find("/api/v2/b").id == b.id and endpoints.find("a").id == a.id


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"path": "/v1/chat"}, "path", "path must start with /api/"),
        ({"path": "/api/"}, "path", "path may hold only"),
        ({"path": "/api/a b"}, "path", "path may hold only"),
        ({"path": "/api/models"}, "path", "reserved"),
        ({"kind": "images"}, "kind", "kind must be one of chat, embeddings"),
        ({"provider": "ghost"}, "provider", "no provider named 'ghost'"),
        ({"model": ""}, "model", "model is required"),
        ({"price_input_per_m": "cheap"}, "price_input_per_m", "must be a number"),
    ],
)
def test_endpoint_validation(db, actor, echo, fields, field, message) -> None:
    good = {"name": "e", "path": "/api/e", "kind": "chat", "model": "m", "provider": "echo"}
    with pytest.raises(ValidationError, match=message) as info:
        endpoints.create(actor, **{**good, **fields})
    assert info.value.field == field
    assert Endpoint.select().count() == 0


def test_endpoint_duplicate_path_is_a_conflict(db, actor, echo) -> None:
    endpoints.create(actor, name="a", path="/api/chat", kind="chat", model="m", provider="echo")
    with pytest.raises(ConflictError, match="path '/api/chat' already exists"):
        endpoints.create(actor, name="b", path="/api/chat", kind="chat", model="m",
                         provider="echo")


# --- tokens ---------------------------------------------------------------------------


def test_token_is_stored_as_prefix_and_hash(db, actor) -> None:
    token, plaintext = tokens.create(actor, 4, name="ci", scopes="chat,models", rpm=60,
                                     allowed_ips=["10.1.2.3", "fd00::/8"])
    assert plaintext.startswith("mpx_") and len(plaintext) == 47
    row = Token.get_by_id(token.id)
    assert row.prefix == plaintext[:12] and plaintext not in row.secret_hash
    assert row.scopes == ["chat", "models"]
    assert row.allowed_ips == ["10.1.2.3/32", "fd00::/8"]
    assert "token" not in tokens.to_dict(row)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"scopes": "chat,admin"}, "scopes", "unknown scope 'admin'"),
        ({"rpm": -1}, "rpm", "whole number >= 0"),
        ({"monthly_tokens": "lots"}, "monthly_tokens", "whole number >= 0"),
        ({"allowed_ips": ["10.0.0.0/33"]}, "allowed_ips", "not an IP address or CIDR"),
        ({"allowed_endpoints": ["ghost"]}, "allowed_endpoints", "no endpoint 'ghost'"),
        ({"expires_at": "tomorrow"}, "expires_at", "ISO 8601"),
    ],
)
def test_token_validation(db, actor, fields, field, message) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        tokens.create(actor, 4, name="t", **fields)
    assert info.value.field == field
    assert Token.select().count() == 0


def test_token_revoke_is_idempotent_and_audited_without_secrets(db, actor) -> None:
    token, plaintext = tokens.create(actor, 4, name="t")
    tokens.revoke(actor, token.id)
    tokens.revoke(actor, token.id)
    assert Token.get_by_id(token.id).revoked is True
    actions = [a.action for a in AuditEntry.select().order_by(AuditEntry.id)]
    assert actions == ["token.create", "token.revoke"]
    assert all(plaintext not in str(a.changes) for a in AuditEntry.select())
    with pytest.raises(NotFoundError):
        tokens.revoke(actor, 999)


# --- admins ---------------------------------------------------------------------------


def test_admin_password_is_hashed_and_authenticates(db, actor) -> None:
    admin = admins.create(actor, "alice", "correct horse", rounds=4)
    assert "correct horse" not in admin.password_hash
    assert admins.authenticate("alice", "correct horse").id == admin.id
    assert admins.authenticate("alice", "wrong password") is None
    assert admins.authenticate("nobody", "correct horse") is None


def test_an_unknown_username_costs_a_real_bcrypt_check_of_the_admins_cost(
        db, actor, monkeypatch) -> None:
    """Item 6 of issue 11: an invalid dummy hash made bcrypt refuse at once (2 ms against
    230 ms), so the answer's time told which usernames exist."""
    admins.create(actor, "alice", "correct horse", rounds=5)
    checked: list[tuple[str, str]] = []
    real_checkpw = bcrypt.checkpw

    def spy(secret: bytes, hashed: bytes) -> bool:
        try:
            right = real_checkpw(secret, hashed)
        except ValueError:  # not a bcrypt hash: refused without any work
            checked.append((hashed.decode(), "refused at once"))
            raise
        checked.append((hashed.decode(), "hashed"))
        return right

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    for username in ["nobody", "x" * 4_000_000, "bad\ud800name", "alice"]:
        assert admins.authenticate(username, "wrong password") is None
    assert [outcome for _, outcome in checked] == ["hashed"] * 4, checked
    assert {hashed[:7] for hashed, _ in checked} == {"$2b$05$"}


def test_all_bcrypt_work_of_a_login_goes_through_run_blocking(db, actor) -> None:
    """Under serve, run_blocking is bcrypt's thread pool: the dummy hash an unknown name is
    checked against is made there too, not on the event loop."""
    admins.create(actor, "alice", "correct horse", rounds=4)
    dummy_hash.cache_clear()
    made_before_offload: list[int] = []

    def offload(fn, *args):
        made_before_offload.append(dummy_hash.cache_info().currsize)
        return fn(*args)

    assert admins.authenticate("nobody", "wrong password", offload) is None
    assert admins.authenticate("alice", "correct horse", offload) is not None
    assert made_before_offload == [0, 1] and dummy_hash.cache_info().currsize == 1


def test_last_admin_cannot_be_removed_or_demoted(db, actor) -> None:
    alice = admins.create(actor, "alice", "password1", rounds=4)
    viewer = admins.create(actor, "vic", "password2", role="viewer", rounds=4)
    with pytest.raises(ConflictError, match="last admin"):
        admins.delete(actor, alice.id)
    with pytest.raises(ConflictError, match="last admin"):
        admins.set_role(actor, alice.id, "viewer")
    admins.delete(actor, viewer.id)
    assert [a.username for a in admins.list_all()] == ["alice"]


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("", "password1", "admin", "username is required"),
        ("bob", "short", "admin", "at least 8"),
        ("bob", "password1", "root", "role must be one of admin, viewer"),
    ],
)
def test_admin_validation(db, actor, username, password, role, message) -> None:
    with pytest.raises(ValidationError, match=message):
        admins.create(actor, username, password, role, rounds=4)
    assert not admins.exists()


def test_audit_never_holds_a_provider_key(db, actor) -> None:
    p = providers.create(BOX, actor, name="oa", type="openai", api_key="sk-topsecret-123456")
    providers.update(BOX, actor, p.id, api_key="sk-topsecret-654321")
    changes = [a.changes for a in AuditEntry.select()]
    assert changes[0]["api_key"] == "(changed)"
    assert "topsecret" not in str(changes)


def test_request_log_after_id_finds_rows_written_late_with_early_times(db) -> None:
    """A live tail asks for rows written after the last one it shows: a long request is
    written when it ends, carrying its (earlier) start time, and must not be missed."""
    import datetime as dt

    from app.services import request_logs
    from server.logwriter import write_batch

    now = dt.datetime(2026, 11, 29, 12, 0, 0)

    def row(seconds_ago: int, request_id: str) -> dict:
        return {"time": now - dt.timedelta(seconds=seconds_ago), "request_id": request_id,
                "status": 200, "latency_ms": 5.0}

    with db.atomic():
        write_batch(db, [row(1, "short-1"), row(0, "short-2")])
    shown = [r["request_id"] for r in request_logs.page({})[0]]
    assert shown == ["short-2", "short-1"]
    newest_id = request_logs.page({})[0][0]["id"]
    with db.atomic():
        write_batch(db, [row(300, "long-stream")])  # started 5 minutes ago, ended now
    tail = request_logs.page({"after_id": newest_id})[0]
    assert [r["request_id"] for r in tail] == ["long-stream"]
    assert request_logs.page({"from": now})[0][0]["request_id"] == "short-2"  # time would miss it
