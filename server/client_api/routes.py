"""The client API routes: the seed surface (/api/...), the OpenAI surface (/v1/...) and
the coding agents' ones (/v1/messages, /v1/responses: their views in dialect_views.py).

Each view is thin: it names the scope, how the endpoint is found and how the request is
served; `pipeline.handle` runs the policy in order, forwards, and makes sure every request
leaves one log row.
"""

from __future__ import annotations

from typing import Any

from werkzeug import Request, Response
from werkzeug.routing import Map, Rule

from app import __version__
from app.db import DATABASE_ERRORS, ping, redact
from app.services import sessions
from server import process
from server.catalog import TokenRecord
from server.client_api import dialect_views
from server.client_api.call import Call, ClientError
from server.client_api.gateway import Gateway
from server.client_api.model_list import handle_models
from server.client_api.pipeline import Resolve, handle, json_response
from server.dialects import CHAT

# --- the views ---------------------------------------------------------------------------


def seed_chat(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "chat", _by_body_or_path("chat", request.path), dialect=CHAT)


def seed_embeddings(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "embeddings", _by_body_or_path("embeddings", request.path))


def seed_any(gw: Gateway, request: Request, path: str) -> Response:
    return handle(gw, request, None, _by_body_or_path(None, request.path))


def v1_chat(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "chat", _by_model("chat"), dialect=CHAT)


def v1_embeddings(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "embeddings", _by_model("embeddings"))


def models(gw: Gateway, request: Request) -> Response:
    return handle_models(gw, request, request.args.get("provider"))


def health(gw: Gateway, request: Request) -> Response:
    """No auth: whether the server, its database, its request-log writer and (where limits
    are shared) Redis work: 503 while one does not, limits being undecidable without
    Redis, so a load balancer sends requests elsewhere. With an admin's session (the
    window's), also where this server keeps its data."""
    database = ping(gw.db)
    writer = gw.log_writer.running
    redis = gw.shared.ping()  # empty without Redis; else up or not, and since when
    ok = database and writer and redis.get("redis", "ok") == "ok"
    body = {"status": "ok" if ok else "error", "version": __version__,
            "database": "ok" if database else "error", "writer": "ok" if writer else "error",
            **redis}
    if database and _from_an_admin(gw, request):
        body.update(data_dir=str(gw.settings.data_dir), database_url=redact(gw.settings.database))
    response = json_response(body, 200 if ok else 503)
    response.headers[process.WORKER_HEADER] = process.worker_label()  # which one answered
    return response


def _from_an_admin(gw: Gateway, request: Request) -> bool:
    """Whether the request carries a live session of an admin (role admin), from an address
    the admin API is open to. Anyone may ask, so this only reads: the session is not marked
    as seen, and nothing shaped unlike a session (a client token, junk) reaches the
    database."""
    token = sessions.bearer(request.headers.get("Authorization"))
    if token is None:
        return False
    address = gw.client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))
    if not gw.admin_access.admits(address):
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
    Rule("/v1/messages", methods=["POST"], endpoint=dialect_views.messages),
    Rule("/v1/messages/count_tokens", methods=["POST"], endpoint=dialect_views.count_tokens),
    Rule("/v1/responses", methods=["POST"], endpoint=dialect_views.responses),
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
