"""Client tokens: minted once, stored as a public prefix and a bcrypt hash, revocable."""

from __future__ import annotations

from typing import Any

from app.crypto import RunBlocking, hash_secret, mint_token, run_inline, token_prefix
from app.errors import NotFoundError, ValidationError
from app.models import Endpoint, Token, database_proxy, utcnow
from app.services import audit
from app.services import validation as v
from app.services.audit import Actor

SCOPES = ("chat", "embeddings", "models", "all")
FIELDS = {"name", "scopes", "rpm", "monthly_requests", "monthly_tokens", "allowed_ips",
           "allowed_endpoints", "expires_at", "monthly_budget"}


def create(actor: Actor, rounds: int = 12, run_blocking: RunBlocking = run_inline, /,
           **fields: Any) -> tuple[Token, str]:
    """Issue a token; returns the row and the plaintext, which is never available again.
    bcrypt runs through `run_blocking`, before the transaction."""
    clean = _clean(fields, creating=True)
    plaintext, prefix = _unused_token()
    secret_hash = run_blocking(hash_secret, plaintext, rounds)
    with database_proxy.atomic():
        token = Token.create(prefix=prefix, secret_hash=secret_hash, **clean)
        audit.record(actor, "token.create", "token", token.id, {"prefix": prefix, **clean})
    return token, plaintext


def update(actor: Actor, token_id: int, /, **fields: Any) -> Token:
    token = get(token_id)
    clean = _clean(fields, creating=False)
    with database_proxy.atomic():
        for key, value in clean.items():
            setattr(token, key, value)
        token.updated_at = utcnow()
        token.save()
        audit.record(actor, "token.update", "token", token.id, clean)
    return token


def revoke(actor: Actor, token_id: int) -> Token:
    """Revoke a token for good (idempotent)."""
    token = get(token_id)
    if not token.revoked:
        with database_proxy.atomic():
            token.revoked = True
            token.updated_at = utcnow()
            token.save()
            audit.record(actor, "token.revoke", "token", token.id, {"revoked": True})
    return token


def delete(actor: Actor, token_id: int) -> None:
    """Remove a token for good (its log rows stay, without the name)."""
    token = get(token_id)
    with database_proxy.atomic():
        token.delete_instance()
        audit.record(actor, "token.delete", "token", token_id, {"name": token.name})


def get(token_id: int) -> Token:
    token = Token.get_or_none(Token.id == token_id) if v.row_id(token_id) else None
    if token is None:
        raise NotFoundError(f"no token with id {token_id}")
    return token


def find_by_prefix(prefix: str) -> Token | None:
    return Token.get_or_none(Token.prefix == prefix)


def list_all(include_revoked: bool = True) -> list[Token]:
    query = Token.select().order_by(Token.id)
    if not include_revoked:
        query = query.where(Token.revoked == False)  # noqa: E712 (peewee expression)
    return list(query)


def to_dict(token: Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": token.scopes,
        "rpm": token.rpm,
        "monthly_requests": token.monthly_requests,
        "monthly_tokens": token.monthly_tokens,
        "allowed_ips": token.allowed_ips,
        "allowed_endpoints": token.allowed_endpoints,
        "expires_at": v.iso(token.expires_at),
        "monthly_budget": None if token.monthly_budget is None else float(token.monthly_budget),
        "revoked": token.revoked,
        "created_at": v.iso(token.created_at),
        "last_used_at": v.iso(token.last_used_at),
    }


def _unused_token() -> tuple[str, str]:
    # 48 random bits in the prefix: a clash is rare, but never allowed.
    while True:
        plaintext = mint_token()
        prefix = token_prefix(plaintext)
        if prefix and not Token.select().where(Token.prefix == prefix).exists():
            return plaintext, prefix


def _clean(fields: dict[str, Any], creating: bool) -> dict[str, Any]:
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    clean: dict[str, Any] = {}
    if creating or "name" in fields:
        clean["name"] = v.name(fields.get("name"))
    if creating or "scopes" in fields:
        clean["scopes"] = _scopes(fields.get("scopes"))
    for field in ("rpm", "monthly_requests"):
        if field in fields:
            clean[field] = v.limit(fields[field], field)
    if "monthly_tokens" in fields:
        clean["monthly_tokens"] = v.limit(fields["monthly_tokens"], "monthly_tokens", v.INT64_MAX)
    if "allowed_ips" in fields:
        clean["allowed_ips"] = v.networks(fields["allowed_ips"])
    if "allowed_endpoints" in fields:
        clean["allowed_endpoints"] = _endpoint_ids(fields["allowed_endpoints"])
    if "expires_at" in fields:
        clean["expires_at"] = v.timestamp(fields["expires_at"], "expires_at")
    if "monthly_budget" in fields:
        clean["monthly_budget"] = v.budget(fields["monthly_budget"], "monthly_budget")
    return clean


def _scopes(value: Any) -> list[str]:
    if value is None:
        return ["all"]
    if isinstance(value, str):
        value = [s for s in value.replace(" ", ",").split(",") if s]
    if not isinstance(value, list | tuple) or not value:
        raise ValidationError(f"scopes must be a non-empty list of {', '.join(SCOPES)}", "scopes")
    for scope in value:
        if scope not in SCOPES:
            raise ValidationError(
                f"unknown scope {scope!r}; scopes are {', '.join(SCOPES)}", "scopes"
            )
    return sorted(set(value))


def _endpoint_ids(value: Any) -> list[int]:
    """Endpoint references (ids, names or paths) as ids; empty means every endpoint."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationError("allowed_endpoints must be a list of endpoint ids or names",
                              "allowed_endpoints")
    ids = []
    for ref in value:
        query = Endpoint.select(Endpoint.id)
        if isinstance(ref, int) and not isinstance(ref, bool):
            found = query.where(Endpoint.id == ref).first()
        else:
            found = query.where((Endpoint.name == str(ref)) | (Endpoint.path == str(ref))).first()
        if found is None:
            raise ValidationError(f"allowed_endpoints: no endpoint {ref!r}", "allowed_endpoints")
        ids.append(found.id)
    return sorted(set(ids))
