"""Providers: upstream accounts. The API key is sealed at rest and never given back."""

from __future__ import annotations

from typing import Any

import peewee as pw

from app.crypto import SecretBox, key_hint
from app.errors import ConflictError, NotFoundError, ValidationError
from app.models import Endpoint, Provider, database_proxy, utcnow
from app.services import audit, provider_types
from app.services import validation as v
from app.services.audit import Actor

MAX_TIMEOUT_S = 3600.0
FIELDS = frozenset({"name", "type", "base_url", "api_key", "headers", "timeout_s", "enabled"})


def create(box: SecretBox, actor: Actor, /, **fields: Any) -> Provider:
    """Add a provider. Fields: name, type, base_url, api_key, headers, timeout_s, enabled."""
    clean = _clean(fields, creating=True)
    _check_unique_name(clean["name"])
    with database_proxy.atomic():
        provider = Provider.create(**_sealed(box, clean))
        audit.record(actor, "provider.create", "provider", provider.id, clean)
    return provider


def update(box: SecretBox, actor: Actor, provider_id: int, /, **fields: Any) -> Provider:
    """Change some fields of a provider; `api_key=""` removes the stored key."""
    provider = get(provider_id)
    clean = _clean({"type": provider.type, **fields}, creating=False)
    if fields.get("type") is None:
        clean.pop("type", None)
    if "name" in clean and clean["name"] != provider.name:
        _check_unique_name(clean["name"])
    if "base_url" not in clean and "type" in clean and not provider.base_url:
        clean["base_url"] = _base_url(None, clean["type"])
    with database_proxy.atomic():
        for key, value in _sealed(box, clean).items():
            setattr(provider, key, value)
        provider.updated_at = utcnow()
        provider.save()
        audit.record(actor, "provider.update", "provider", provider.id, clean)
    return provider


def delete(actor: Actor, provider_id: int) -> None:
    """Remove a provider that no endpoint uses."""
    provider = get(provider_id)
    users = [e.name for e in Endpoint.select(Endpoint.name).where(Endpoint.provider == provider)]
    if users:
        raise ConflictError(
            f"provider {provider.name!r} is used by endpoint(s) {', '.join(users)}; "
            "remove or move them first"
        )
    with database_proxy.atomic():
        provider.delete_instance()
        audit.record(actor, "provider.delete", "provider", provider_id, {"name": provider.name})


def get(provider_id: int) -> Provider:
    provider = Provider.get_or_none(Provider.id == provider_id) if v.row_id(provider_id) else None
    if provider is None:
        raise NotFoundError(f"no provider with id {provider_id}")
    return provider


def get_by_name(name: str) -> Provider:
    provider = Provider.get_or_none(Provider.name == name)
    if provider is None:
        raise NotFoundError(f"no provider named {name!r}")
    return provider


def list_all() -> list[Provider]:
    return list(Provider.select().order_by(Provider.name))


def api_key(box: SecretBox, provider: Provider) -> str | None:
    """The plaintext key, for calling upstream only."""
    return box.open(provider.api_key_encrypted) if provider.api_key_encrypted else None


def to_dict(provider: Provider) -> dict[str, Any]:
    """The public shape: the key itself never appears, only whether it is set and a hint."""
    return {
        "id": provider.id,
        "name": provider.name,
        "type": provider.type,
        "base_url": provider.base_url,
        "api_key_set": provider.api_key_encrypted is not None,
        "api_key_hint": provider.api_key_hint,
        "headers": provider.headers,
        "timeout_s": provider.timeout_s,
        "enabled": provider.enabled,
        "created_at": v.iso(provider.created_at),
        "updated_at": v.iso(provider.updated_at),
    }


def _clean(fields: dict[str, Any], creating: bool) -> dict[str, Any]:
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    clean: dict[str, Any] = {}
    if creating or "name" in fields:
        clean["name"] = v.name(fields.get("name"))
    type_name = v.one_of(fields.get("type"), provider_types.known_types(), "type")
    clean["type"] = type_name
    if creating or "base_url" in fields:
        clean["base_url"] = _base_url(fields.get("base_url"), type_name)
    if fields.get("api_key") is not None:
        clean["api_key"] = _api_key(fields["api_key"])
    if creating or "headers" in fields:
        clean["headers"] = v.headers(fields.get("headers"))
    if fields.get("timeout_s") is not None:
        clean["timeout_s"] = v.positive_number(fields["timeout_s"], "timeout_s", MAX_TIMEOUT_S)
    if fields.get("enabled") is not None:
        clean["enabled"] = v.boolean(fields["enabled"], "enabled")
    return clean


def _base_url(value: Any, type_name: str) -> str:
    if value in (None, ""):
        default = provider_types.default_base_url(type_name)
        if default is None:
            raise ValidationError(f"base_url is required for type {type_name}", "base_url")
        return default
    return v.http_url(value)


def _api_key(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("api_key must be a string", "api_key")
    value = value.strip()
    if any(c.isspace() for c in value) or len(value) > 4096:
        raise ValidationError("api_key must be one word of at most 4096 characters", "api_key")
    return value


def _sealed(box: SecretBox, clean: dict[str, Any]) -> dict[str, Any]:
    """Column values for `clean`, the key replaced by its sealed form and hint."""
    columns = {k: val for k, val in clean.items() if k != "api_key"}
    if "api_key" in clean:
        key = clean["api_key"]
        columns["api_key_encrypted"] = box.seal(key) if key else None
        columns["api_key_hint"] = key_hint(key) if key else None
    return columns


def _check_unique_name(name: str) -> None:
    if Provider.select().where(pw.fn.LOWER(Provider.name) == name.lower()).exists():
        raise ConflictError(f"a provider named {name!r} already exists", "name")
