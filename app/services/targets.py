"""Endpoint targets: where an endpoint's requests go (a provider and its model name there),
tried by priority, by weight among equals, with optional prices of their own.

The endpoint's own `model` and `provider` are its first target's (lowest priority, then
id): kept in step here after every change to its targets. An endpoint always has at least
one enabled target: removing or disabling the last one is a conflict (409)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from app import prices
from app.errors import ConflictError, NotFoundError, ValidationError
from app.models import Endpoint, EndpointTarget, Provider, database_proxy, utcnow
from app.services import audit
from app.services import validation as v
from app.services.audit import Actor
from app.services.target_fields import PRICE_FIELDS, clean_item, clean_list

__all__ = ["PRICE_FIELDS", "add", "by_endpoint", "first", "get", "of", "remove",
           "replace_all", "set_single", "sync_endpoint", "to_dict", "update"]


def of(endpoint: Endpoint | int) -> list[EndpointTarget]:
    """The endpoint's targets in the order they are tried (priority, then id)."""
    endpoint_id = endpoint if isinstance(endpoint, int) else endpoint.id
    return by_endpoint([endpoint_id]).get(endpoint_id, [])


def by_endpoint(endpoint_ids: Iterable[int] | None = None) -> dict[int, list[EndpointTarget]]:
    """Targets per endpoint id, in order, with their providers: one query for a whole list
    (every endpoint's when `endpoint_ids` is None)."""
    query = (EndpointTarget.select(EndpointTarget, Provider).join(Provider)
             .order_by(EndpointTarget.priority, EndpointTarget.id))
    if endpoint_ids is not None:
        query = query.where(EndpointTarget.endpoint.in_(list(endpoint_ids)))
    found: dict[int, list[EndpointTarget]] = {}
    for target in query:
        found.setdefault(target.endpoint_id, []).append(target)
    return found


def first(endpoint: Endpoint) -> EndpointTarget | None:
    found = of(endpoint)
    return found[0] if found else None


def get(endpoint_id: int, target_id: int) -> EndpointTarget:
    """One target of the endpoint (404 for another endpoint's)."""
    target = (EndpointTarget.get_or_none((EndpointTarget.id == target_id)
                                         & (EndpointTarget.endpoint == endpoint_id))
              if v.row_id(target_id) and v.row_id(endpoint_id) else None)
    if target is None:
        raise NotFoundError(f"no target {target_id} of endpoint {endpoint_id}")
    return target


def add(actor: Actor, endpoint: Endpoint, /, **fields: Any) -> EndpointTarget:
    """Add a target. Without a priority it is a fallback: one more than the highest."""
    clean = clean_item(fields, "", creating=True)
    with database_proxy.atomic():
        if "priority" not in clean:
            existing = [t.priority for t in of(endpoint)]
            clean["priority"] = min(max(existing) + 1, 1000) if existing else 0
        target = EndpointTarget.create(endpoint=endpoint, **clean)
        sync_endpoint(endpoint)
        audit.record(actor, "endpoint.target_add", "endpoint", endpoint.id,
                     {"target_id": target.id, **_loggable(clean)})
    return target


def update(actor: Actor, endpoint: Endpoint, target_id: int, /,
           **fields: Any) -> EndpointTarget:
    target = get(endpoint.id, target_id)
    clean = clean_item(fields, "", creating=False)
    with database_proxy.atomic():
        if clean.get("enabled") is False and target.enabled:
            _keep_one_enabled(endpoint, target, "disable")
        for key, value in clean.items():
            setattr(target, key, value)
        target.updated_at = utcnow()
        target.save()
        sync_endpoint(endpoint)
        audit.record(actor, "endpoint.target_update", "endpoint", endpoint.id,
                     {"target_id": target.id, **_loggable(clean)})
    return target


def remove(actor: Actor, endpoint: Endpoint, target_id: int) -> None:
    target = get(endpoint.id, target_id)
    with database_proxy.atomic():
        if target.enabled:
            _keep_one_enabled(endpoint, target, "remove")
        target.delete_instance()
        sync_endpoint(endpoint)
        audit.record(actor, "endpoint.target_remove", "endpoint", endpoint.id,
                     {"target_id": target_id, "provider": target.provider_id,
                      "model": target.model})


def replace_all(endpoint: Endpoint, items: Any) -> list[EndpointTarget]:
    """The endpoint's targets made exactly `items` (the endpoint API's `targets`), all
    checked before any is saved. A row is kept (its id, so its health and its log rows'
    target_id stay) for an item naming its `id`, else for an item with the same provider
    and model; the rest are made anew, and rows no item kept are removed. Call inside the
    caller's transaction; the caller audits."""
    clean = clean_list(items, "targets")
    current = of(endpoint)
    by_id = {t.id: t for t in current}
    kept: list[EndpointTarget] = []
    for index, fields in enumerate(clean):
        wanted = fields.pop("id", None)
        if wanted is not None and wanted not in by_id:
            raise ValidationError(f"targets[{index}].id: no target {wanted} of this endpoint",
                                  f"targets[{index}].id")
        row = by_id.pop(wanted, None) if wanted is not None else _same_route(by_id, fields)
        kept.append(_saved(row or EndpointTarget(endpoint=endpoint), fields))
    for leftover in by_id.values():
        leftover.delete_instance()
    sync_endpoint(endpoint)
    return kept


def set_single(endpoint: Endpoint, provider: Provider | None, model: str | None,
               prices: dict[str, Decimal | None]) -> EndpointTarget:
    """The endpoint's first target made or changed from the endpoint-level fields (the
    one-provider API of before targets): its provider, model and prices where given."""
    target = first(endpoint)
    if target is None:
        target = EndpointTarget(endpoint=endpoint, provider=provider or endpoint.provider,
                                model=model or endpoint.model)
    if provider is not None:
        target.provider = provider
    if model is not None:
        target.model = model
    for field, value in prices.items():
        setattr(target, field, value)
    if "price_input_per_m" in prices and "price_cached_input_per_m" not in prices:
        target.price_cached_input_per_m = prices["price_input_per_m"]
    target.updated_at = utcnow()
    target.save()
    sync_endpoint(endpoint)
    return target


def sync_endpoint(endpoint: Endpoint) -> None:
    """The endpoint's model and provider set to its first target's."""
    target = first(endpoint)
    if target is None:
        return
    if (endpoint.model, endpoint.provider_id) != (target.model, target.provider_id):
        endpoint.model, endpoint.provider = target.model, target.provider_id
        endpoint.updated_at = utcnow()
        endpoint.save()


def to_dict(target: EndpointTarget) -> dict[str, Any]:
    """The design's target dict, without `health` (the admin view adds the router's)."""
    price = prices.for_target(target.provider.type, target.model, target.price_input_per_m,
                              target.price_cached_input_per_m, target.price_output_per_m)
    return {
        "id": target.id,
        "endpoint_id": target.endpoint_id,
        "provider_id": target.provider_id,
        "provider": target.provider.name,
        "model": target.model,
        "priority": target.priority,
        "weight": target.weight,
        "enabled": target.enabled,
        **{field: price_out(getattr(target, field)) for field in PRICE_FIELDS},
        "price": price.to_dict() if price else None,
    }


def price_out(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _keep_one_enabled(endpoint: Endpoint, target: EndpointTarget, doing: str) -> None:
    """An endpoint keeps one enabled target at least: its requests need somewhere to go (an
    endpoint is switched off with its own `enabled`)."""
    others = (EndpointTarget.select().where((EndpointTarget.endpoint == endpoint.id)
                                            & (EndpointTarget.id != target.id)
                                            & (EndpointTarget.enabled == True))  # noqa: E712
              .exists())
    if not others:
        raise ConflictError(f"cannot {doing} target {target.id}: it is the endpoint "
                            f"{endpoint.name!r}'s only enabled one (add or enable another "
                            "first, or disable the endpoint itself)", "target_id")


def _same_route(rows: dict[int, EndpointTarget], fields: dict[str, Any]) -> EndpointTarget | None:
    for row_id, row in rows.items():
        if (row.provider_id, row.model) == (fields["provider"].id, fields["model"]):
            return rows.pop(row_id)
    return None


def _saved(row: EndpointTarget, fields: dict[str, Any]) -> EndpointTarget:
    for key, value in fields.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    row.save()
    return row


def _loggable(clean: dict[str, Any]) -> dict[str, Any]:
    return {k: (val.id if isinstance(val, Provider) else
                str(val) if isinstance(val, Decimal) else val) for k, val in clean.items()}
