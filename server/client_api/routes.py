"""The client API routes: the seed surface (/api/...) and the OpenAI surface (/v1/...).

Each view is thin: it names the scope and how the endpoint is found; `handle` runs the
policy in order, forwards, and makes sure every request leaves one log row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from server.catalog import EndpointRecord, ProviderEntry, TokenRecord
from server.client_api import body as bodies
from server.client_api.call import Call, ClientError, request_id_from
from server.client_api.gateway import Gateway
from server.client_api.relay import (
    ClientGone,
    StreamRelay,
    call_upstream,
    open_stream,
    upstream_body,
)
from server.errors import error_response

bp = Blueprint("client_api", __name__)
Resolve = Callable[[Gateway, Call, TokenRecord, dict[str, Any]],
                   tuple[EndpointRecord, ProviderEntry]]


def gateway() -> Gateway:
    return current_app.extensions["modelproxy"].gateway


# --- the views ---------------------------------------------------------------------------


@bp.post("/api/chat")
def seed_chat() -> Response:
    return handle("chat", _by_body_or_path("chat"))


@bp.post("/api/embeddings")
def seed_embeddings() -> Response:
    return handle("embeddings", _by_body_or_path("embeddings"))


@bp.post("/api/<path:path>")
def seed_any(path: str) -> Response:
    return handle(None, _by_body_or_path(None))


@bp.post("/v1/chat/completions")
def v1_chat() -> Response:
    return handle("chat", _by_model("chat"))


@bp.post("/v1/embeddings")
def v1_embeddings() -> Response:
    return handle("embeddings", _by_model("embeddings"))


@bp.get("/api/models")
@bp.get("/v1/models")
def models() -> Response:
    return handle_models(request.args.get("provider"))


# --- endpoint resolution -------------------------------------------------------------------


def _by_body_or_path(kind: str | None) -> Resolve:
    def resolve(gw: Gateway, call: Call, token: TokenRecord, body: dict[str, Any]):
        path = body.get("endpoint", request.path)
        if not isinstance(path, str):
            raise ClientError(400, "endpoint must be an endpoint path such as /api/chat",
                              "invalid_request", param="endpoint")
        return gw.endpoint_by_path(call, token, path, kind)

    return resolve


def _by_model(kind: str) -> Resolve:
    def resolve(gw: Gateway, call: Call, token: TokenRecord, body: dict[str, Any]):
        return gw.endpoint_by_model(call, token, body.get("model"), kind)

    return resolve


# --- the pipeline --------------------------------------------------------------------------


def start_call(gw: Gateway) -> Call:
    call = Call(request_id=request_id_from(request.headers.get("X-Request-ID")),
                client_ip=gw.client_ip(request.remote_addr,
                                       request.headers.get("X-Forwarded-For")))
    g.call = call
    return call


def handle(kind: str | None, resolve: Resolve) -> Response:
    gw = gateway()
    call = start_call(gw)
    try:
        token = gw.authenticate(call, request.headers.get("Authorization"))
        if kind is not None:
            gw.require_scope(token, kind)
        body = bodies.read_json(request, gw.catalog.options["max_body_bytes"])
        endpoint, provider = resolve(gw, call, token, body)
        (bodies.check_chat if endpoint.kind == "chat" else bodies.check_embeddings)(body)
        call.stream = endpoint.kind == "chat" and body.get("stream") is True
        gw.admit(call, token)
        forwarded = upstream_body(body, endpoint.model)
        client = request.environ.get("modelproxy.socket")
        if call.stream:
            stream = open_stream(call, provider.adapter, forwarded, client)
            relay = StreamRelay(call, stream, body, gw.finish, client, gw.metrics.open_streams)
            return Response(relay, mimetype="text/event-stream",
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        answer = call_upstream(call, provider.adapter, endpoint.kind, forwarded)
        gw.finish(call)
        return json_response(answer)
    except ClientError as exc:
        return refuse(gw, call, exc)
    except ClientGone:
        call.fail(499, "the client disconnected")
        gw.finish(call)
        return Response(status=499)


def handle_models(provider_name: str | None) -> Response:
    gw = gateway()
    call = start_call(gw)
    try:
        token = gw.authenticate(call, request.headers.get("Authorization"))
        gw.require_scope(token, "models")
        gw.admit(call, token, quota=False)  # listing models uses no model quota
        data = [_model_object(gw, e) for e in gw.catalog.endpoints_by_path.values()
                if _listed(gw, token, e, provider_name)]
        gw.finish(call)
        return json_response({"object": "list", "data": data})
    except ClientError as exc:
        return refuse(gw, call, exc)


def refuse(gw: Gateway, call: Call, exc: ClientError) -> Response:
    call.fail(exc.status, exc.message)
    gw.finish(call)
    response = error_response(exc.status, exc.message, exc.code, exc.param)
    response.headers.update(exc.headers)
    return response


def json_response(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), mimetype="application/json")


def _listed(gw: Gateway, token: TokenRecord, endpoint: EndpointRecord,
            provider_name: str | None) -> bool:
    provider = gw.catalog.providers.get(endpoint.provider_id)
    if not endpoint.enabled or provider is None or not provider.enabled:
        return False
    if provider_name is not None and provider.config.name != provider_name:
        return False
    if token.allowed_endpoints and endpoint.id not in token.allowed_endpoints:
        return False
    return token.allows_scope(endpoint.kind)


def _model_object(gw: Gateway, endpoint: EndpointRecord) -> dict[str, Any]:
    provider = gw.catalog.providers[endpoint.provider_id]
    return {"id": endpoint.name, "object": "model", "created": int(time.time()),
            "owned_by": provider.config.name, "endpoint": endpoint.path,
            "kind": endpoint.kind, "model": endpoint.model}


def stamp(response: Response) -> Response:
    """Every client API response names its request id (also health checks and routing
    errors) and, where the token has a rate limit, where it stands."""
    if not request.path.startswith(("/api/", "/v1/")):
        return response
    call: Call | None = g.get("call")
    if call is None:
        response.headers["X-Request-ID"] = request_id_from(request.headers.get("X-Request-ID"))
        return response
    response.headers["X-Request-ID"] = call.request_id
    response.headers.update(call.rate_headers)
    return response
