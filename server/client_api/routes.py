"""The client API routes: the seed surface (/api/...) and the OpenAI surface (/v1/...).

Each view is thin: it names the scope and how the endpoint is found; `handle` runs the
policy in order, forwards, and makes sure every request leaves one log row. Views take
the gateway and a Werkzeug request (wsgi.py serves them, without Flask).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from werkzeug import Request, Response
from werkzeug.routing import Map, Rule

from app import __version__
from app.db import DATABASE_ERRORS, ping, redact
from app.services import sessions
from server.catalog import EndpointRecord, ProviderEntry, TokenRecord
from server.client_api import body as bodies
from server.client_api import network
from server.client_api.call import Call, ClientError, request_id_from
from server.client_api.client_watch import ClientGone
from server.client_api.gateway import Gateway
from server.client_api.relay import (
    StreamRelay,
    call_upstream,
    open_stream,
    upstream_body,
)
from server.errors import INTERNAL_ERROR, error_response
from server.providers import Answer
from server.stopping import STOPPED, ServerStopped

log = logging.getLogger(__name__)
Resolve = Callable[[Gateway, Call, TokenRecord, dict[str, Any]],
                   tuple[EndpointRecord, ProviderEntry]]


# --- the views ---------------------------------------------------------------------------


def seed_chat(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "chat", _by_body_or_path("chat", request.path))


def seed_embeddings(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "embeddings", _by_body_or_path("embeddings", request.path))


def seed_any(gw: Gateway, request: Request, path: str) -> Response:
    return handle(gw, request, None, _by_body_or_path(None, request.path))


def v1_chat(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "chat", _by_model("chat"))


def v1_embeddings(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "embeddings", _by_model("embeddings"))


def models(gw: Gateway, request: Request) -> Response:
    return handle_models(gw, request, request.args.get("provider"))


def health(gw: Gateway, request: Request) -> Response:
    """No auth: whether the server, its database and its request-log writer work. With an
    admin's session (the window's), also where this server keeps its data."""
    database = ping(gw.db)
    writer = gw.log_writer.running
    ok = database and writer
    body = {"status": "ok" if ok else "error", "version": __version__,
            "database": "ok" if database else "error", "writer": "ok" if writer else "error"}
    if database and _from_an_admin(gw, request):
        body.update(data_dir=str(gw.settings.data_dir), database_url=redact(gw.settings.database))
    return json_response(body, 200 if ok else 503)


def _from_an_admin(gw: Gateway, request: Request) -> bool:
    """Whether the request carries a live session of an admin (role admin), from an address
    the admin API is open to. Anyone may ask, so this only reads: the session is not marked
    as seen, and nothing shaped unlike a session (a client token, junk) reaches the
    database."""
    token = sessions.bearer(request.headers.get("Authorization"))
    if token is None:
        return False
    address = gw.client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))
    if gw.admin_networks and not network.allowed(address, gw.admin_networks):
        return False
    try:
        with gw.db.connection_context():
            session = sessions.lookup(token)
            return session is not None and session.admin.role == "admin"
    except DATABASE_ERRORS:  # a full pool's too: health must answer
        return False


# Lenient about slashes: a client's stray "/" gets its answer, not a redirect.
url_map = Map(strict_slashes=False, merge_slashes=False, rules=[
    Rule("/api/health", methods=["GET"], endpoint=health),
    Rule("/api/chat", methods=["POST"], endpoint=seed_chat),
    Rule("/api/embeddings", methods=["POST"], endpoint=seed_embeddings),
    Rule("/api/<path:path>", methods=["POST"], endpoint=seed_any),
    Rule("/api/models", methods=["GET"], endpoint=models),
    Rule("/v1/chat/completions", methods=["POST"], endpoint=v1_chat),
    Rule("/v1/embeddings", methods=["POST"], endpoint=v1_embeddings),
    Rule("/v1/models", methods=["GET"], endpoint=models),
])


# --- endpoint resolution -------------------------------------------------------------------


def _by_body_or_path(kind: str | None, request_path: str) -> Resolve:
    def resolve(gw: Gateway, call: Call, token: TokenRecord, body: dict[str, Any]):
        path = body.get("endpoint", request_path)
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


def start_call(gw: Gateway, request: Request) -> Call:
    return Call(request_id=request_id_from(request.headers.get("X-Request-ID")),
                client_ip=gw.client_ip(request.remote_addr,
                                       request.headers.get("X-Forwarded-For")))


def handle(gw: Gateway, request: Request, kind: str | None, resolve: Resolve) -> Response:
    call = start_call(gw, request)
    try:
        token = gw.authenticate(call, request.headers.get("Authorization"))
        if kind is not None:
            gw.require_scope(token, kind)
        body = bodies.read_json(request, gw.catalog.options["max_body_bytes"])
        endpoint, provider = resolve(gw, call, token, body)
        (bodies.check_chat if endpoint.kind == "chat" else bodies.check_embeddings)(body)
        call.stream = endpoint.kind == "chat" and body.get("stream") is True
        gw.admit(call, token, kind=endpoint.kind, body=body)
        forwarded = upstream_body(body, endpoint.model)
        client = request.environ.get("modelproxy.socket")
        if call.stream:
            stream = open_stream(call, provider.adapter, forwarded, client)
            relay = StreamRelay(call, stream, body, _stream_finish(gw, request), client,
                                gw.metrics.open_streams, provider.adapter.config.api_key)
            return stamp(call, Response(relay, mimetype="text/event-stream", headers={
                "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}))
        answer = call_upstream(call, provider.adapter, endpoint.kind, forwarded, client)
        gw.finish(call)
        return stamp(call, json_response(answer))
    except ClientError as exc:
        return refuse(gw, call, exc)
    except ClientGone:
        call.fail(499, "the client disconnected")
        gw.finish(call)
        return stamp(call, Response(status=499))
    except ServerStopped:  # the stop's grace period ended while it waited
        return refuse(gw, call, ClientError(503, STOPPED, "server_stopped"))
    except Exception:  # a bug: still one log row, and no quota held for ever
        log.exception("unhandled error in the client API")
        return refuse(gw, call, ClientError(500, INTERNAL_ERROR, "internal_error"))


def handle_models(gw: Gateway, request: Request, provider_name: str | None) -> Response:
    call = start_call(gw, request)
    try:
        token = gw.authenticate(call, request.headers.get("Authorization"))
        gw.require_scope(token, "models")
        gw.admit(call, token, quota=False)  # listing models uses no model quota
        data = [_model_object(gw, e) for e in gw.catalog.endpoints_by_path.values()
                if _listed(gw, token, e, provider_name)]
        gw.finish(call)
        return stamp(call, json_response({"object": "list", "data": data}))
    except ClientError as exc:
        return refuse(gw, call, exc)
    except ServerStopped:
        return refuse(gw, call, ClientError(503, STOPPED, "server_stopped"))


def _stream_finish(gw: Gateway, request: Request) -> Callable[[Call], None]:
    """The relay's `finish`, which also knows a stream cut off by the server's stop (the
    relay sees only its end: upstream interrupted, or the client socket closed) and logs
    it as such, not as a success or a client that left."""
    cut_off = request.environ.get("modelproxy.cut_off")

    def finish(call: Call) -> None:
        if cut_off is not None and cut_off.is_set() and call.status in (200, 499):
            call.fail(503, STOPPED)
        gw.finish(call)

    return finish


def refuse(gw: Gateway, call: Call, exc: ClientError) -> Response:
    call.fail(exc.status, exc.message)
    gw.finish(call)
    response = error_response(exc.status, exc.message, exc.code, exc.param)
    response.headers.update(exc.headers)
    return stamp(call, response)


def stamp(call: Call, response: Response) -> Response:
    """The call's request id and, where the token has a rate limit, where it stands."""
    response.headers["X-Request-ID"] = call.request_id
    response.headers.update(call.rate_headers)
    return response


def json_response(payload: dict[str, Any], status: int = 200) -> Response:
    """`payload` as JSON; an adapter's Answer as the provider's own bytes."""
    body = payload.raw if isinstance(payload, Answer) else json.dumps(payload,
                                                                       ensure_ascii=False)
    return Response(body, status, mimetype="application/json")


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
