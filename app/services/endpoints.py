"""Endpoints: what clients call — a path under /api/ and a name, mapped to a provider's model."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import peewee as pw

from app.errors import ConflictError, NotFoundError, ValidationError
from app.models import Endpoint, Provider, database_proxy, utcnow
from app.services import audit, target_fields, targets
from app.services import validation as v
from app.services.audit import Actor

KINDS = ("chat", "embeddings")
# Paths the client API answers itself; an endpoint may not take them.
RESERVED_PATHS = frozenset({"/api/models", "/api/health"})
_PATH = re.compile(r"^/api(/[A-Za-z0-9._~-]+)+$")
FIELDS = {"name", "path", "kind", "model", "provider", "provider_id", "enabled",
           "price_input_per_m", "price_output_per_m", "aliases", "targets", "monthly_budget"}
# The one-provider fields of before targets: they set the first target, so they cannot come
# with a `targets` list as well.
SINGLE_FIELDS = ("model", "provider", "provider_id", "price_input_per_m", "price_output_per_m")
MAX_ALIASES = 20


def create(actor: Actor, /, **fields: Any) -> Endpoint:
    """Add an endpoint. Fields: name, path, kind, `targets` (a list of provider, model,
    priority, weight, enabled, prices) or else model and provider (id or name) and prices
    (one target), enabled, aliases (extra model names it answers to), monthly_budget."""
    clean = _clean(fields, creating=True)
    _check_unique(clean)
    _check_names(clean["name"], clean.get("aliases", []))
    prices = _prices_of(clean)
    route = clean.pop("targets", None)
    if route is not None:  # the first target's, until sync_endpoint has the real first
        lowest = min(route, key=lambda t: t["priority"])
        clean["provider"], clean["model"] = lowest["provider"], lowest["model"]
    with database_proxy.atomic():
        endpoint = Endpoint.create(**clean)
        if route is None:
            targets.set_single(endpoint, clean["provider"], clean["model"], prices)
        else:
            targets.replace_all(endpoint, fields["targets"])
        audit.record(actor, "endpoint.create", "endpoint", endpoint.id,
                     _loggable({**clean, **prices, **_route_log(route)}))
    return endpoint


def update(actor: Actor, endpoint_id: int, /, **fields: Any) -> Endpoint:
    endpoint = get(endpoint_id)
    clean = _clean(fields, creating=False)
    _check_unique(clean, exclude_id=endpoint.id)
    _check_names(clean.get("name", endpoint.name), clean.get("aliases", endpoint.aliases or []),
                 exclude_id=endpoint.id)
    prices = _prices_of(clean)
    route = clean.pop("targets", None)
    with database_proxy.atomic():
        for key, value in clean.items():
            setattr(endpoint, key, value)
        endpoint.updated_at = utcnow()
        endpoint.save()
        if route is not None:
            targets.replace_all(endpoint, fields["targets"])
        elif prices or {"provider", "model"} & set(clean):
            targets.set_single(endpoint, clean.get("provider"), clean.get("model"), prices)
        audit.record(actor, "endpoint.update", "endpoint", endpoint.id,
                     _loggable({**clean, **prices, **_route_log(route)}))
    return endpoint


def delete(actor: Actor, endpoint_id: int) -> None:
    endpoint = get(endpoint_id)
    with database_proxy.atomic():
        endpoint.delete_instance()
        audit.record(actor, "endpoint.delete", "endpoint", endpoint_id, {"name": endpoint.name})


def get(endpoint_id: int) -> Endpoint:
    endpoint = Endpoint.get_or_none(Endpoint.id == endpoint_id) if v.row_id(endpoint_id) else None
    if endpoint is None:
        raise NotFoundError(f"no endpoint with id {endpoint_id}")
    return endpoint


def find(ref: str | int) -> Endpoint:
    """An endpoint by id, name or path."""
    query = Endpoint.select().where((Endpoint.name == str(ref)) | (Endpoint.path == str(ref)))
    if isinstance(ref, int) or str(ref).isdigit():
        query = Endpoint.select().where(Endpoint.id == int(ref))
    endpoint = query.first()
    if endpoint is None:
        raise NotFoundError(f"no endpoint {ref!r}")
    return endpoint


def list_all() -> list[Endpoint]:
    return list(Endpoint.select(Endpoint, Provider).join(Provider).order_by(Endpoint.path))


def to_dicts(rows: Iterable[Endpoint]) -> list[dict[str, Any]]:
    """Endpoints as dicts, their targets read in one query."""
    rows = list(rows)
    found = targets.by_endpoint([e.id for e in rows])
    return [to_dict(e, found.get(e.id, [])) for e in rows]


def to_dict(endpoint: Endpoint, route: list[Any] | None = None) -> dict[str, Any]:
    """The endpoint with its targets (`route`: already read, else read here)."""
    route = targets.of(endpoint) if route is None else route
    first = route[0] if route else None
    return {
        "id": endpoint.id,
        "name": endpoint.name,
        "path": endpoint.path,
        "kind": endpoint.kind,
        "model": endpoint.model,
        "provider_id": endpoint.provider_id,
        "enabled": endpoint.enabled,
        "aliases": list(endpoint.aliases or []),
        # The one-provider API's prices: the first target's.
        **{field: targets.price_out(getattr(first, field) if first else None)
           for field in ("price_input_per_m", "price_output_per_m")},
        "targets": [targets.to_dict(t) for t in route],
        "monthly_budget": targets.price_out(endpoint.monthly_budget),
        "created_at": v.iso(endpoint.created_at),
        "updated_at": v.iso(endpoint.updated_at),
    }


def _clean(fields: dict[str, Any], creating: bool) -> dict[str, Any]:
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    clean: dict[str, Any] = {}
    if creating or "name" in fields:
        clean["name"] = v.name(fields.get("name"))
    if "monthly_budget" in fields:
        clean["monthly_budget"] = v.budget(fields["monthly_budget"], "monthly_budget")
    if fields.get("targets") is not None:
        given = [f for f in SINGLE_FIELDS if f in fields]
        if given:
            raise ValidationError(f"give targets or {given[0]}, not both: the targets list "
                                  "holds each target's provider, model and prices", given[0])
        clean["targets"] = target_fields.clean_list(fields["targets"], "targets")
    single = creating and "targets" not in clean  # else model and provider come from targets
    if creating or "path" in fields:
        clean["path"] = _path(fields.get("path"))
    if creating or "kind" in fields:
        clean["kind"] = v.one_of(fields.get("kind"), KINDS, "kind")
    if single or "model" in fields:
        clean["model"] = v.text(fields.get("model"), "model")
    provider_ref = fields.get("provider_id", fields.get("provider"))
    if single or provider_ref is not None:
        clean["provider"] = target_fields.provider(provider_ref)
    if fields.get("enabled") is not None:
        clean["enabled"] = v.boolean(fields["enabled"], "enabled")
    for price in ("price_input_per_m", "price_output_per_m"):
        if price in fields:
            clean[price] = v.price(fields[price], price)
    if "aliases" in fields:
        clean["aliases"] = _aliases(fields["aliases"])
    return clean


def _aliases(value: Any) -> list[str]:
    """Extra model names: each one of a name's rules (agents' model names, such as
    claude-sonnet-4-5-20250929 or openai/gpt-5:free, pass), at most MAX_ALIASES, no repeats."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationError("aliases must be a list of model names", "aliases")
    if len(value) > MAX_ALIASES:
        raise ValidationError(f"aliases: at most {MAX_ALIASES}, got {len(value)}", "aliases")
    clean: list[str] = []
    for item in value:
        alias = v.name(item, "aliases")
        if alias.lower() in (a.lower() for a in clean):
            raise ValidationError(f"aliases: {alias!r} is given twice", "aliases")
        clean.append(alias)
    return clean


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("path is required", "path")
    value = value.strip()
    if not value.startswith("/api/"):
        raise ValidationError(f"path must start with /api/, got {value!r}", "path")
    if not _PATH.match(value) or len(value) > 200:
        raise ValidationError(
            "path may hold only letters, digits and . _ ~ - between slashes, e.g. /api/chat",
            "path",
        )
    if value in RESERVED_PATHS:
        raise ValidationError(f"path {value} is reserved by the client API", "path")
    return value


def _prices_of(clean: dict[str, Any]) -> dict[str, Decimal | None]:
    """The endpoint-level prices, taken out of `clean`: they are its first target's."""
    return {field: clean.pop(field) for field in targets.PRICE_FIELDS if field in clean}


def _check_unique(clean: dict[str, Any], exclude_id: int | None = None) -> None:
    for field, column in (("name", Endpoint.name), ("path", Endpoint.path)):
        if field not in clean:
            continue
        query = Endpoint.select().where(pw.fn.LOWER(column) == clean[field].lower())
        if exclude_id is not None:
            query = query.where(Endpoint.id != exclude_id)
        if query.exists():
            raise ConflictError(f"an endpoint with {field} {clean[field]!r} already exists", field)


def _check_names(name: str, aliases: list[str], exclude_id: int | None = None) -> None:
    """A model name reaches one endpoint: no alias is the endpoint's own name, nor another
    endpoint's name or alias, and the name is no other endpoint's alias (all case-blind, as
    names are)."""
    taken: dict[str, str] = {}
    for other_id, other_name, other_aliases in Endpoint.select(
            Endpoint.id, Endpoint.name, Endpoint.aliases).tuples():
        if other_id == exclude_id:
            continue
        taken[other_name.lower()] = f"the name of the endpoint {other_name!r}"
        for alias in other_aliases or []:
            taken[alias.lower()] = f"an alias of the endpoint {other_name!r}"
    if name.lower() in taken:
        raise ConflictError(f"the name {name!r} is already {taken[name.lower()]}", "name")
    for alias in aliases:
        if alias.lower() == name.lower():
            raise ValidationError(f"the alias {alias!r} is the endpoint's own name", "aliases")
        if alias.lower() in taken:
            raise ConflictError(f"the alias {alias!r} is already {taken[alias.lower()]}",
                                "aliases")


def _route_log(route: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A targets list as the audit log keeps it."""
    if route is None:
        return {}
    return {"targets": [_loggable(t) for t in route]}


def _loggable(clean: dict[str, Any]) -> dict[str, Any]:
    return {k: (val.id if isinstance(val, Provider) else
                str(val) if isinstance(val, Decimal) else val) for k, val in clean.items()}
