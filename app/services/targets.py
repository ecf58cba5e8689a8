"""Endpoint targets: where an endpoint's requests go (a provider and its model name there),
tried by priority, by weight among equals, with optional prices of their own.

The endpoint's own `model` and `provider` are its first target's (lowest priority, then
id): kept in step here after every change to its targets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.models import Endpoint, EndpointTarget, Provider, utcnow

PRICE_FIELDS = ("price_input_per_m", "price_cached_input_per_m", "price_output_per_m")


def of(endpoint: Endpoint) -> list[EndpointTarget]:
    """The endpoint's targets in the order they are tried (priority, then id)."""
    return list(EndpointTarget.select(EndpointTarget, Provider).join(Provider)
                .where(EndpointTarget.endpoint == endpoint.id)
                .order_by(EndpointTarget.priority, EndpointTarget.id))


def first(endpoint: Endpoint) -> EndpointTarget | None:
    found = of(endpoint)
    return found[0] if found else None


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


def price_out(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def first_prices(endpoint: Endpoint) -> dict[str, Any]:
    """The first target's input and output prices (the endpoint-level price fields)."""
    target = first(endpoint)
    return {field: price_out(getattr(target, field) if target else None)
            for field in ("price_input_per_m", "price_output_per_m")}
