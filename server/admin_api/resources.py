"""CRUD for providers, endpoints, tokens and admins: thin views over app.services.

Every change reloads the proxy's catalog, so it applies to the next client request.
"""

from __future__ import annotations

from flask import g, jsonify
from flask.typing import ResponseReturnValue

from app.models import Provider
from app.services import admins, endpoints, providers, sessions, tokens
from app.services import usage as usage_service
from server.admin_api.auth import admin_role_only, bp
from server.admin_api.common import actor, body_fields, items, json_body, state
from server.admin_api.targets import (
    endpoint_view,
    provider_view,
    spent_this_month,
    targets_using,
)


def _changed() -> None:
    state().catalog.apply_change()


# --- providers ---------------------------------------------------------------------------


def _provider_dict(provider: Provider) -> dict:
    return provider_view(providers.to_dict(provider), targets_using(provider.id))


@bp.get("/providers")
def list_providers() -> ResponseReturnValue:
    using = targets_using()
    return items([provider_view(providers.to_dict(p), using) for p in providers.list_all()])


@bp.post("/providers")
def create_provider() -> ResponseReturnValue:
    provider = providers.create(state().box, actor(), **json_body())
    _changed()
    return jsonify(_provider_dict(provider)), 201


@bp.get("/providers/<int:provider_id>")
def get_provider(provider_id: int) -> ResponseReturnValue:
    return jsonify(_provider_dict(providers.get(provider_id)))


@bp.patch("/providers/<int:provider_id>")
def update_provider(provider_id: int) -> ResponseReturnValue:
    provider = providers.update(state().box, actor(), provider_id,
                                **json_body())
    _changed()
    return jsonify(_provider_dict(provider))


@bp.delete("/providers/<int:provider_id>")
def delete_provider(provider_id: int) -> ResponseReturnValue:
    providers.delete(actor(), provider_id)
    _changed()
    return "", 204


@bp.post("/providers/<int:provider_id>/test")
def test_provider(provider_id: int) -> ResponseReturnValue:
    """Call the provider's model list: {"ok", "latency_ms", "models" | "error"}."""
    provider: Provider = providers.get(provider_id)
    return jsonify(state().health.check(provider.id))


# --- endpoints ---------------------------------------------------------------------------


def _endpoint_dict(endpoint_id: int) -> dict:
    """Read again after a change: the endpoint's model and provider follow its targets."""
    return endpoint_view(endpoints.to_dict(endpoints.get(endpoint_id)))


@bp.get("/endpoints")
def list_endpoints() -> ResponseReturnValue:
    spent = spent_this_month("endpoint")
    return items([{**endpoint_view(e), "spent_this_month": spent.get(e["id"], 0.0)}
                  for e in endpoints.to_dicts(endpoints.list_all())])


@bp.post("/endpoints")
def create_endpoint() -> ResponseReturnValue:
    endpoint = endpoints.create(actor(), **json_body())
    _changed()
    return jsonify(_endpoint_dict(endpoint.id)), 201


@bp.get("/endpoints/<int:endpoint_id>")
def get_endpoint(endpoint_id: int) -> ResponseReturnValue:
    return jsonify(_endpoint_dict(endpoint_id))


@bp.patch("/endpoints/<int:endpoint_id>")
def update_endpoint(endpoint_id: int) -> ResponseReturnValue:
    endpoints.update(actor(), endpoint_id, **json_body())
    _changed()
    return jsonify(_endpoint_dict(endpoint_id))


@bp.delete("/endpoints/<int:endpoint_id>")
def delete_endpoint(endpoint_id: int) -> ResponseReturnValue:
    endpoints.delete(actor(), endpoint_id)
    _changed()
    return "", 204


# --- tokens ------------------------------------------------------------------------------


def _token_dict(token, month_usage: dict[int, tuple[int, int]]) -> dict:
    requests_used, tokens_used = month_usage.get(token.id, (0, 0))
    return {**tokens.to_dict(token),
            "usage_month": {"requests": requests_used, "tokens": tokens_used}}


@bp.get("/tokens")
def list_tokens() -> ResponseReturnValue:
    month_usage = usage_service.month_by_token()
    spent = spent_this_month("token")
    return items([{**_token_dict(t, month_usage), "spent_this_month": spent.get(t.id, 0.0)}
                  for t in tokens.list_all()])


@bp.post("/tokens")
def create_token() -> ResponseReturnValue:
    token, plaintext = tokens.create(actor(), state().settings.bcrypt_rounds,
                                     state().run_bcrypt, **json_body())
    _changed()
    return jsonify({**_token_dict(token, {}), "token": plaintext}), 201


@bp.get("/tokens/<int:token_id>")
def get_token(token_id: int) -> ResponseReturnValue:
    return jsonify(_token_dict(tokens.get(token_id), usage_service.month_by_token()))


@bp.patch("/tokens/<int:token_id>")
def update_token(token_id: int) -> ResponseReturnValue:
    token = tokens.update(actor(), token_id, **json_body())
    _changed()
    return jsonify(_token_dict(token, usage_service.month_by_token()))


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> ResponseReturnValue:
    token = tokens.revoke(actor(), token_id)
    _changed()
    return jsonify(_token_dict(token, usage_service.month_by_token()))


@bp.delete("/tokens/<int:token_id>")
def delete_token(token_id: int) -> ResponseReturnValue:
    tokens.delete(actor(), token_id)
    state().gateway.verifier.forget(token_id)
    _changed()
    return "", 204


# --- admins ------------------------------------------------------------------------------


@bp.get("/admins")
def list_admins() -> ResponseReturnValue:
    admin_role_only()
    return items([admins.to_dict(a) for a in admins.list_all()])


@bp.post("/admins")
def create_admin() -> ResponseReturnValue:
    body = body_fields({"username", "password", "role"})
    admin = admins.create(actor(), body.get("username"), body.get("password"),
                          body.get("role", "admin"), rounds=state().settings.bcrypt_rounds,
                          run_blocking=state().run_bcrypt)
    return jsonify(admins.to_dict(admin)), 201


@bp.get("/admins/<int:admin_id>")
def get_admin(admin_id: int) -> ResponseReturnValue:
    admin_role_only()
    return jsonify(admins.to_dict(admins.get(admin_id)))


@bp.patch("/admins/<int:admin_id>")
def update_admin(admin_id: int) -> ResponseReturnValue:
    body = body_fields({"role", "password"})
    if "role" in body:
        admins.set_role(actor(), admin_id, body["role"])
    if "password" in body:
        admins.set_password(actor(), admin_id, body["password"],
                            rounds=state().settings.bcrypt_rounds,
                            run_blocking=state().run_bcrypt)
        sessions.end_all_for(admin_id, keep=g.session_token)
    return jsonify(admins.to_dict(admins.get(admin_id)))


@bp.delete("/admins/<int:admin_id>")
def delete_admin(admin_id: int) -> ResponseReturnValue:
    admins.delete(actor(), admin_id)
    return "", 204
