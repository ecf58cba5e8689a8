"""What the admin API views share: who is asking, the JSON body, list responses."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from app.errors import ValidationError
from app.models import Admin
from app.services.audit import Actor
from server.jsonbody import InvalidJSON, parse_object


def state() -> Any:
    return current_app.extensions["modelproxy"]


def client_ip() -> str:
    return state().gateway.client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))


def current_admin() -> Admin:
    return g.admin


def actor() -> Actor:
    return Actor(g.admin.username, client_ip())


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, whatever the Content-Type says. A body that could
    not be read whole (framing.BodyError: 400, or 408 when too slow) is answered with its own
    status by server/errors.py."""
    raw = request.get_data(cache=False)
    try:
        return parse_object(raw)
    except InvalidJSON as exc:
        raise ValidationError(str(exc)) from None


def body_fields(allowed: frozenset[str] | set[str]) -> dict[str, Any]:
    """The JSON body, refusing fields the resource does not have (they would otherwise
    collide with the service's own arguments)."""
    body = json_body()
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", unknown[0])
    return body


def items(rows: list[dict[str, Any]], next_cursor: str | None = None,
          paginated: bool = False) -> ResponseReturnValue:
    payload: dict[str, Any] = {"items": rows}
    if paginated:
        payload["next_cursor"] = next_cursor
    return jsonify(payload)


_WHOLE = re.compile(r"-?[0-9]{1,20}")


def int_arg(name: str, default: int | None = None, low: int = 0,
            high: int = 10**12) -> int | None:
    given = request.args.getlist(name)
    if not given:
        return default
    if len(given) > 1:
        raise ValidationError(f"{name} is given {len(given)} times: give it once", name)
    raw = given[0]
    if raw == "":
        raise ValidationError(f"{name} is empty: leave it out, or give a value", name)
    # Plain ASCII digits: int() also takes " 5", "1_0" and other scripts' digits.
    if not _WHOLE.fullmatch(raw):
        raise ValidationError(f"{name} must be a whole number", name)
    value = int(raw)
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}", name)
    return value


def target_health(target_id: int) -> dict[str, Any] | None:
    """The server router's health of a target ({"state", "cooling_for_s", ...}); None where
    the gateway has no router (it keeps the health, in memory, per server)."""
    router = getattr(state().gateway, "router", None)
    return None if router is None else router.health(target_id)
