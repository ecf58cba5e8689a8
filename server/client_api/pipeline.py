"""The client API's pipeline: the policy every request passes (`handle`), how it is served
(the OpenAI surface's pass-through, or a dialect's through server/client_api/dialect_calls),
and how refusals and answers leave (one log row each, the call's headers stamped).

Views (routes.py, dialect_views.py) name the scope, how the endpoint is found and how the
request is served; they take the gateway and a Werkzeug request (wsgi.py serves them,
without Flask).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug import Request, Response

from server.catalog import EndpointRecord, ProviderEntry, TargetRecord, TokenRecord
from server.client_api import body as bodies
from server.client_api import dialect_calls as dialects
from server.client_api.call import Call, ClientError, request_id_from
from server.client_api.client_watch import ClientGone
from server.client_api.gateway import Gateway
from server.client_api.relay import StreamRelay, call_upstream, open_stream, upstream_body
from server.dialects import CHAT, CODECS
from server.errors import INTERNAL_ERROR, error_body
from server.providers import Answer
from server.stopping import STOPPED, ServerStopped

log = logging.getLogger(__name__)
Resolve = Callable[[Gateway, Call, TokenRecord, dict[str, Any]],
                   tuple[EndpointRecord, ProviderEntry]]
# What a route does once the policy found its endpoint (serve_openai, serve_in(dialect)).
Serve = Callable[[Gateway, Request, Call, TokenRecord, dict[str, Any], EndpointRecord,
                  ProviderEntry], Response]
Errors = Callable[[int, str, str | None, str | None], bytes]  # a dialect's error_body
# Where agents say which of their sessions a request belongs to (usage by agent session):
# Claude Code's, Codex's (session-id; conversation-id before). Headers spelt with "_" never
# arrive: gevent's server drops them (they could pass for "-" ones in the WSGI environ).
SESSION_HEADERS = ("X-Claude-Code-Session-Id", "session-id", "conversation-id")
SESSION_CHARS = 128


def start_call(gw: Gateway, request: Request) -> Call:
    return Call(request_id=request_id_from(request.headers.get("X-Request-ID")),
                client_ip=gw.client_ip(request.remote_addr,
                                       request.headers.get("X-Forwarded-For")))


def handle(gw: Gateway, request: Request, kind: str | None, resolve: Resolve,
           serve: Serve | None = None, errors: Errors = error_body,
           dialect: str | None = None) -> Response:
    """The policy, then `serve` (the OpenAI surface's by default); every refusal in the
    shape `errors` writes (the client dialect's). A route of one chat `dialect` names it,
    and the agent's session, on the row from the start: refusals are filtered by them too."""
    call = start_call(gw, request)
    if dialect is not None:
        call.client_dialect, call.agent_session = dialect, agent_session(request)

    def work() -> Response:
        token = gw.authenticate(call, credentials(request))
        if kind is not None:
            gw.require_scope(token, kind)
        body = bodies.read_json(request, gw.catalog.options["max_body_bytes"])
        endpoint, provider = resolve(gw, call, token, body)
        return (serve or serve_openai)(gw, request, call, token, body, endpoint, provider)

    return guarded(gw, call, work, errors)


def guarded(gw: Gateway, call: Call, work: Callable[[], Response],
            errors: Errors = error_body) -> Response:
    """`work`'s response; any way it fails, one log row and an error in `errors`' shape."""
    try:
        return work()
    except ClientError as exc:
        return refuse(gw, call, exc, errors)
    except ClientGone:
        call.fail(499, "the client disconnected")
        gw.finish(call)
        return stamp(call, Response(status=499))
    except ServerStopped:  # the stop's grace period ended while it waited
        return refuse(gw, call, ClientError(503, STOPPED, "server_stopped"), errors)
    except Exception:  # a bug: still one log row, and no quota held for ever
        log.exception("unhandled error in the client API")
        return refuse(gw, call, ClientError(500, INTERNAL_ERROR, "internal_error"), errors)


def serve_openai(gw: Gateway, request: Request, call: Call, token: TokenRecord,
                 body: dict[str, Any], endpoint: EndpointRecord,
                 provider: ProviderEntry) -> Response:
    """A chat or embeddings request of the OpenAI surface: passed through to a chat
    provider as it is (the hot path), translated for one of another dialect. `provider` is
    the first target's: what it speaks decides how the request is checked."""
    if endpoint.kind == "chat" and CHAT not in dialects.dialects_of(provider.adapter):
        return serve_in(CHAT)(gw, request, call, token, body, endpoint, provider)
    if endpoint.kind == "chat":  # its row names the dialects, as a translated one's does
        bodies.check_chat(body)
        if call.client_dialect is None:  # a route of no one dialect (/api/<path>)
            call.client_dialect, call.agent_session = CHAT, agent_session(request)
    else:
        bodies.check_embeddings(body)
    call.stream = endpoint.kind == "chat" and body.get("stream") is True
    gw.admit(call, token, kind=endpoint.kind, body=body)

    def attempt(target: TargetRecord, entry: ProviderEntry) -> Response:
        if endpoint.kind == "chat" and CHAT not in dialects.dialects_of(entry.adapter):
            return _serve_dialect(CHAT, gw, request, call, body, target, entry)
        return _pass_through(gw, request, call, body, endpoint.kind, target, entry)

    return gw.route(call, endpoint, attempt, request.environ.get("modelproxy.socket"))


def _pass_through(gw: Gateway, request: Request, call: Call, body: dict[str, Any],
                  kind: str, target: TargetRecord, entry: ProviderEntry) -> Response:
    """The request as the client sent it (the target's model in), to a provider of its
    own dialect, and the provider's answer as it came."""
    if kind == "chat":
        call.provider_dialect = CHAT
    forwarded = upstream_body(body, target.model)
    client = request.environ.get("modelproxy.socket")
    if call.stream:
        stream = open_stream(call, entry.adapter, forwarded, client)
        relay = StreamRelay(call, stream, body, stream_finish(gw, request), client,
                            gw.metrics.open_streams, entry.adapter.config.api_key)
        return stamp(call, event_stream(relay))
    answer = call_upstream(call, entry.adapter, kind, forwarded, client)
    gw.finish(call)
    return stamp(call, json_response(answer))


def event_stream(events: Iterable[bytes]) -> Response:
    return Response(events, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def credentials(request: Request) -> str | None:
    """The token as `Authorization: Bearer`, or as Anthropic's `x-api-key` header (also
    where Authorization is sent blank, as an SDK given an empty auth token sends it)."""
    authorization = request.headers.get("Authorization")
    if not (authorization or "").strip() and request.headers.get("x-api-key"):
        return "Bearer " + request.headers["x-api-key"]
    return authorization


def stream_finish(gw: Gateway, request: Request) -> Callable[[Call], None]:
    """The relay's `finish`, which also knows a stream cut off by the server's stop (the
    relay sees only its end: upstream interrupted, or the client socket closed) and logs
    it as such, not as a success or a client that left."""
    cut_off = request.environ.get("modelproxy.cut_off")

    def finish(call: Call) -> None:
        if cut_off is not None and cut_off.is_set() and call.status in (200, 499):
            call.fail(503, STOPPED)
        gw.finish(call)

    return finish


def refuse(gw: Gateway, call: Call, exc: ClientError, errors: Errors = error_body) -> Response:
    call.fail(exc.status, exc.message)
    gw.finish(call)
    response = Response(errors(exc.status, exc.message, exc.code, exc.param), exc.status,
                        mimetype="application/json")
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


def serve_in(dialect: str) -> Serve:
    """How a chat request of `dialect` is served: passed through to a provider that
    speaks it, translated for one that does not."""

    def serve(gw: Gateway, request: Request, call: Call, token: TokenRecord,
              body: dict[str, Any], endpoint: EndpointRecord,
              provider: ProviderEntry) -> Response:
        if call.client_dialect is None:  # a route of no one dialect (/api/<path>)
            call.client_dialect, call.agent_session = dialect, agent_session(request)
        if "stream" in body and not isinstance(body["stream"], bool):
            raise ClientError(400, "stream must be true or false", "invalid_request",
                              param="stream")
        # A body that cannot be read is refused before anything is held or sent; the first
        # target's translation is kept for its attempt (translating costs).
        first = call.target_id, dialects.upstream_request(
            dialects.plan(dialect, provider.adapter), _ours_out(body), call.model or "")
        call.stream = body.get("stream") is True
        gw.admit(call, token, kind="chat", body=dialects.usage_body(dialect, body))
        return gw.route(call, endpoint, lambda target, entry: _serve_dialect(
            dialect, gw, request, call, body, target, entry,
            first[1] if target.id == first[0] else None),
            request.environ.get("modelproxy.socket"))

    return serve


def _serve_dialect(dialect: str, gw: Gateway, request: Request, call: Call,
                   body: dict[str, Any], target: TargetRecord, entry: ProviderEntry,
                   forwarded: dict[str, Any] | None = None) -> Response:
    """A chat request of `dialect` on one target: passed through where the provider
    speaks it, translated where it does not (`forwarded`: done already)."""
    plan = dialects.plan(dialect, entry.adapter)
    call.provider_dialect = plan.provider
    if forwarded is None:
        forwarded = dialects.upstream_request(plan, _ours_out(body), target.model)
    headers = dialects.forwarded_headers(plan, request.headers)
    client = request.environ.get("modelproxy.socket")
    if call.stream:
        return stamp(call, event_stream(dialects.streamed_answer(
            call, entry.adapter, plan, forwarded, body, headers, client,
            stream_finish(gw, request), gw.metrics.open_streams)))
    raw = dialects.whole_answer(call, entry.adapter, plan, forwarded, body, headers, client)
    gw.finish(call)
    return stamp(call, Response(raw, 200, mimetype="application/json"))


def errors_of(dialect: str) -> Errors:
    return CODECS[dialect].error_body


def agent_session(request: Request) -> str | None:
    """The agent's session id, from the first of SESSION_HEADERS sent (cut to fit)."""
    for name in SESSION_HEADERS:
        value = request.headers.get(name)
        if value:
            return value[:SESSION_CHARS]
    return None


def _ours_out(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "endpoint"} if "endpoint" in body else body
