"""An endpoint's targets (GET/POST /endpoints/<id>/targets, PATCH/DELETE
/endpoints/<id>/targets/<target_id>), the shipped price table (GET /prices), and what the
endpoint, provider and token views add to the services' dicts: each target's health from
the server's router, and the money spent this month.

Every change reloads the catalog, so the next client request takes the new route."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from app import prices
from app.models import Endpoint, EndpointTarget, Provider
from app.services import endpoints, targets, usage_money
from server.admin_api.auth import bp
from server.admin_api.common import actor, items, json_body, state, target_health


def endpoint_view(endpoint_dict: dict[str, Any]) -> dict[str, Any]:
    """An endpoint dict with each target's health."""
    return {**endpoint_dict,
            "targets": [target_view(t) for t in endpoint_dict.get("targets", [])]}


def target_view(target_dict: dict[str, Any]) -> dict[str, Any]:
    return {**target_dict, "health": target_health(target_dict["id"])}


def provider_view(provider_dict: dict[str, Any],
                  using: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """A provider dict with the health of the targets using it (`using`: targets_using())."""
    return {**provider_dict, "targets_health": using.get(provider_dict["id"], [])}


def targets_using(provider_id: int | None = None) -> dict[int, list[dict[str, Any]]]:
    """Per provider id, the targets using it with their health: one query for a list."""
    query = (EndpointTarget.select(EndpointTarget.id, EndpointTarget.provider,
                                   EndpointTarget.model, Endpoint.id, Endpoint.name)
             .join(Endpoint).order_by(Endpoint.name, EndpointTarget.priority,
                                      EndpointTarget.id))
    if provider_id is not None:
        query = query.where(EndpointTarget.provider == provider_id)
    found: dict[int, list[dict[str, Any]]] = {}
    for row in query:
        found.setdefault(row.provider_id, []).append({
            "target_id": row.id, "endpoint_id": row.endpoint.id, "endpoint": row.endpoint.name,
            "model": row.model, "health": target_health(row.id)})
    return found


def spent_this_month(subject: str) -> dict[int, float]:
    """USD spent this calendar month (UTC) per token id or endpoint id ("token",
    "endpoint"): the rollups' cost, as written at the prices of each request's time."""
    spent = usage_money.month_spend(subject)
    return {key: prices.usd(nanos) or 0.0 for key, nanos in spent.items()}


def _changed() -> None:
    state().catalog.apply_change()


@bp.get("/endpoints/<int:endpoint_id>/targets")
def list_targets(endpoint_id: int) -> ResponseReturnValue:
    endpoint = endpoints.get(endpoint_id)
    return items([target_view(targets.to_dict(t)) for t in targets.of(endpoint)])


@bp.post("/endpoints/<int:endpoint_id>/targets")
def add_target(endpoint_id: int) -> ResponseReturnValue:
    endpoint = endpoints.get(endpoint_id)
    target = targets.add(actor(), endpoint, **json_body())
    _changed()
    return jsonify(target_view(targets.to_dict(_reread(endpoint_id, target.id)))), 201


@bp.patch("/endpoints/<int:endpoint_id>/targets/<int:target_id>")
def update_target(endpoint_id: int, target_id: int) -> ResponseReturnValue:
    endpoint = endpoints.get(endpoint_id)
    targets.update(actor(), endpoint, target_id, **json_body())
    _changed()
    return jsonify(target_view(targets.to_dict(_reread(endpoint_id, target_id))))


@bp.delete("/endpoints/<int:endpoint_id>/targets/<int:target_id>")
def remove_target(endpoint_id: int, target_id: int) -> ResponseReturnValue:
    targets.remove(actor(), endpoints.get(endpoint_id), target_id)
    _changed()
    return "", 204


@bp.get("/prices")
def price_table() -> ResponseReturnValue:
    """The shipped table: {"currency", "unit", "taken", "source", "types": {type: {model:
    {"input", "cached_input", "output"}}}}."""
    return jsonify(prices.table())


def _reread(endpoint_id: int, target_id: int) -> EndpointTarget:
    """The target with its provider (for its name and price type)."""
    return (EndpointTarget.select(EndpointTarget, Provider).join(Provider)
            .where((EndpointTarget.id == target_id)
                   & (EndpointTarget.endpoint == endpoint_id)).get())
