"""The coding agents' surfaces: Anthropic Messages (POST /v1/messages, and its token
count) and OpenAI Responses (POST /v1/responses). A chat endpoint answers them by its
name or an alias, through the same policy as chat completions; errors in each dialect's
own shape."""

from __future__ import annotations

import json
from typing import Any

from werkzeug import Request, Response

from server.catalog import EndpointRecord, ProviderEntry, TokenRecord
from server.client_api.call import Call, ClientError
from server.client_api.dialect_calls import Plan, dialects_of, forwarded_headers
from server.client_api.gateway import Gateway
from server.client_api.pipeline import errors_of, handle, serve_in, stamp
from server.client_api.relay import upstream_failure
from server.dialects import MESSAGES, RESPONSES
from server.dialects import messages as anthropic
from server.dialects.model import DialectError
from server.providers import UpstreamError

ESTIMATED = "X-ModelProxy-Token-Count"  # "estimate" where the count is the proxy's own


def _by_model(gw: Gateway, call: Call, token: TokenRecord,
              body: dict[str, Any]) -> tuple[EndpointRecord, ProviderEntry]:
    return gw.endpoint_by_model(call, token, body.get("model"), "chat")


def messages(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "chat", _by_model, serve_in(MESSAGES), errors_of(MESSAGES),
                  MESSAGES)


def responses(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "chat", _by_model, serve_in(RESPONSES), errors_of(RESPONSES),
                  RESPONSES)


def count_tokens(gw: Gateway, request: Request) -> Response:
    return handle(gw, request, "chat", _by_model, _count, errors_of(MESSAGES), MESSAGES)


def _count(gw: Gateway, request: Request, call: Call, token: TokenRecord,
           body: dict[str, Any], endpoint: EndpointRecord,
           provider: ProviderEntry) -> Response:
    """The provider's exact count where it has one (Anthropic's); else the proxy's
    estimate, never below a plain character bound (an agent told too few tokens stops
    compacting its context, then fails), and said so in a header."""
    call.client_dialect = MESSAGES
    try:
        anthropic.read_request(body)  # a malformed request is a 400, however counted
    except DialectError as exc:
        raise ClientError(400, str(exc), "invalid_request", param=exc.field) from None
    gw.admit(call, token, quota=False)  # counting uses no model tokens
    exact = None
    if MESSAGES in dialects_of(provider.adapter):
        call.provider_dialect, call.tries = MESSAGES, 1
        forwarded = {**body, "model": call.model}  # the first usable target's
        headers = forwarded_headers(Plan(MESSAGES, MESSAGES), request.headers)
        try:
            exact = provider.adapter.count_tokens(forwarded, call.request_id, headers)
        except UpstreamError as exc:
            raise upstream_failure(exc) from None
    counted = exact if exact is not None else anthropic.estimate_input_tokens(body)
    call.prompt_tokens = 0  # not a use of the model: the quota and rollups count none
    gw.finish(call)
    response = Response(json.dumps({"input_tokens": counted}), 200,
                        mimetype="application/json")
    if exact is None:
        response.headers[ESTIMATED] = "estimate"
    return stamp(call, response)


__all__ = ["count_tokens", "messages", "responses"]
