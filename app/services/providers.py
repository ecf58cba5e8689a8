"""Providers: upstream accounts. The API key and the extra headers' values are sealed at
rest and never given back: the public shape shows hints.

Editing keeps what is not sent: no `api_key` keeps the key, and a header sent back with
the hint it was shown (`{"X-Org": "…a1b2"}`) keeps its stored value. `headers`, when sent,
is the whole set of extra headers: a name left out is removed.
"""

from __future__ import annotations

import json
from typing import Any

import peewee as pw

from app.crypto import SecretBox, header_hint, key_hint
from app.errors import ConflictError, NotFoundError, ValidationError
from app.models import Endpoint, EndpointTarget, Provider, database_proxy, utcnow
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
        provider = Provider.create(**_sealed(box, clean, {}))
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
        for key, value in _sealed(box, clean, provider).items():
            setattr(provider, key, value)
        provider.updated_at = utcnow()
        provider.save()
        audit.record(actor, "provider.update", "provider", provider.id, clean)
    return provider


def delete(actor: Actor, provider_id: int) -> None:
    """Remove a provider that no endpoint uses."""
    provider = get(provider_id)
    users = sorted({e.name for e in Endpoint.select(Endpoint.name).join(EndpointTarget)
                    .where(EndpointTarget.provider == provider)}
                   | {e.name for e in Endpoint.select(Endpoint.name)
                      .where(Endpoint.provider == provider)})
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


def header_values(box: SecretBox, provider: Provider) -> dict[str, str]:
    """The extra headers with their plaintext values, for calling upstream only."""
    if not provider.headers_encrypted:
        return {}
    return json.loads(box.open(provider.headers_encrypted))


def to_dict(provider: Provider) -> dict[str, Any]:
    """The public shape: no secret appears, only whether the key is set and hints (the
    headers' names with a hint of each value)."""
    return {
        "id": provider.id,
        "name": provider.name,
        "type": provider.type,
        "base_url": provider.base_url,
        "api_key_set": provider.api_key_encrypted is not None,
        "api_key_hint": provider.api_key_hint,
        "headers": dict(provider.headers or {}),
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


def _sealed(box: SecretBox, clean: dict[str, Any], current: Provider | dict) -> dict[str, Any]:
    """Column values for `clean`, the key and header values replaced by their sealed forms
    and hints. `clean["headers"]` is resolved in place (hints sent back become the stored
    values), so what is audited is what is stored."""
    columns = {k: val for k, val in clean.items() if k not in ("api_key", "headers")}
    if "api_key" in clean:
        key = clean["api_key"]
        columns["api_key_encrypted"] = box.seal(key) if key else None
        columns["api_key_hint"] = key_hint(key) if key else None
    if "headers" in clean:
        stored = header_values(box, current) if isinstance(current, Provider) else {}
        values = clean["headers"] = _resolve_hints(clean["headers"], stored)
        columns["headers"] = {name: header_hint(value) for name, value in values.items()}
        columns["headers_encrypted"] = box.seal(json.dumps(values)) if values else None
    return columns


def _resolve_hints(sent: dict[str, str], stored: dict[str, str]) -> dict[str, str]:
    """`sent` with each value that is the hint of that header's stored value replaced by
    the stored value. A hint for a header with no stored value is refused: it would be
    sent upstream as the header's value."""
    values = {}
    for name, value in sent.items():
        if name in stored and value == header_hint(stored[name]):
            values[name] = stored[name]
        elif value.startswith("…"):
            raise ValidationError(
                f"headers: the value of {name} is a hint (…); send the header's real value, "
                "or the hint it was shown to keep the stored one", "headers")
        else:
            values[name] = value
    return values


def _check_unique_name(name: str) -> None:
    if Provider.select().where(pw.fn.LOWER(Provider.name) == name.lower()).exists():
        raise ConflictError(f"a provider named {name!r} already exists", "name")
