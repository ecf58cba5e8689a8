"""GET /v1/models (and /api/models): the endpoints a token may use, as model objects in
the OpenAI shape, or in Anthropic's for a request that carries `anthropic-version` (as
Claude Code's and the Anthropic SDKs' do)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from werkzeug import Request, Response

from server.catalog import EndpointRecord, TokenRecord
from server.client_api.gateway import Gateway
from server.client_api.pipeline import credentials, guarded, json_response, stamp, start_call
from server.dialects import messages
from server.errors import error_body


def handle_models(gw: Gateway, request: Request, provider_name: str | None) -> Response:
    """The model list the token may use; in Anthropic's shape for an Anthropic client."""
    anthropic = "anthropic-version" in request.headers
    call = start_call(gw, request)

    def work() -> Response:
        token = gw.authenticate(call, credentials(request))
        gw.require_scope(token, "models")
        gw.admit(call, token, quota=False)  # listing models uses no model quota
        listed = [e for e in gw.catalog.endpoints_by_path.values()
                  if _listed(gw, token, e, provider_name)]
        page = _anthropic_page(listed) if anthropic else {
            "object": "list", "data": [_model_object(gw, e) for e in listed]}
        gw.finish(call)
        return stamp(call, json_response(page))

    return guarded(gw, call, work, messages.error_body if anthropic else error_body)


def _listed(gw: Gateway, token: TokenRecord, endpoint: EndpointRecord,
            provider_name: str | None) -> bool:
    """Whether the token sees the endpoint here: enabled, with a target whose provider is
    (and, given `provider_name`, one of that provider)."""
    if not endpoint.enabled:
        return False
    providers = [p for t in endpoint.targets
                 if (p := gw.catalog.providers.get(t.provider_id)) is not None and p.enabled]
    if not providers or (provider_name is not None
                         and all(p.config.name != provider_name for p in providers)):
        return False
    if token.allowed_endpoints and endpoint.id not in token.allowed_endpoints:
        return False
    return token.allows_scope(endpoint.kind)


def _model_object(gw: Gateway, endpoint: EndpointRecord) -> dict[str, Any]:
    _, owner = gw.catalog.names_for(None, endpoint.provider_id)  # the first target's
    return {"id": endpoint.name, "object": "model", "created": int(time.time()),
            "owned_by": owner, "endpoint": endpoint.path,
            "kind": endpoint.kind, "model": endpoint.model}


def _anthropic_page(endpoints: list[EndpointRecord]) -> dict[str, Any]:
    """Anthropic's model list: each endpoint by its name and by each of its aliases (an
    agent checks the model it is told to use is listed)."""
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = [n for e in endpoints for n in (e.name, *getattr(e, "aliases", ()))]
    data = [{"type": "model", "id": n, "display_name": n, "created_at": created}
            for n in names]
    return {"data": data, "has_more": False, "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None}
