"""GET /admin/api/openapi.json: the client and admin APIs described in OpenAPI 3.0.

Written out by hand from small builders; tests/server/test_admin_openapi.py checks that every
route the app has is here and every path here is a route.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from app import __version__
from server.admin_api.auth import bp
from server.admin_api.openapi_schemas import (
    JSON,
    NSTR,
    SCHEMAS,
    STR,
    TIME_ARG,
    arr,
    obj,
    ref,
)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


ERRORS = {"400": _error("Bad request"), "401": _error("Not authenticated"),
          "403": _error("Not allowed"), "404": _error("Not found"),
          "409": _error("Conflict"), "429": _error("Too many requests")}


def op(summary: str, tag: str, ok: dict[str, Any] | None = None, body: str | None = None,
       status: str = "200", security: str | None = "session",
       params: list[dict[str, Any]] | None = None, content: str = JSON) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "tags": [tag]}
    success: dict[str, Any] = {"description": "OK"}
    if ok is not None:
        success["content"] = {content: {"schema": ok}}
    operation["responses"] = {status: success, **ERRORS}
    if body:
        operation["requestBody"] = {"required": True,
                                    "content": {JSON: {"schema": ref(body)}}}
    operation["security"] = [{security: []}] if security else []
    if params:
        operation["parameters"] = params
    return operation


def query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _crud(plural: str, noun: str, schema: str, input_schema: str, update_schema: str,
          id_name: str) -> dict[str, Any]:
    listed = obj(["items"], items=arr(ref(schema)))
    one = {"parameters": [path_id(id_name)],
           "get": op(f"One {noun}", plural, ref(schema)),
           "patch": op(f"Change some fields of a {noun}", plural, ref(schema), update_schema),
           "delete": op(f"Remove a {noun}", plural, status="204")}
    return {f"/admin/api/{plural}": {"get": op(f"List {plural}", plural, listed),
                                     "post": op(f"Add a {noun}", plural, ref(schema),
                                                input_schema, "201")},
            f"/admin/api/{plural}/{{{id_name}}}": one}


ID_ARG = {"type": "integer", "minimum": 0, "maximum": 10**12}  # server.admin_api.common.int_arg
PAGE_LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
STATUS_ARG = {"type": "string", "pattern": "^(2xx|3xx|4xx|5xx|error|[1-5][0-9][0-9])$"}
LOG_CURSOR = {"type": "string", "pattern": "^[0-9]{1,16}-[0-9]{1,18}$",
              "description": "next_cursor of the page before"}
RANGE_PARAMS = [query("range", {"type": "string", "enum": ["24h", "7d", "30d", "90d"]}),
                query("from", TIME_ARG), query("to", TIME_ARG)]
DIALECT = {"type": "string", "enum": ["chat", "responses", "messages"]}
LOG_PARAMS = [query("from", TIME_ARG), query("to", TIME_ARG), query("token_id", ID_ARG),
              query("endpoint_id", ID_ARG), query("provider_id", ID_ARG),
              query("target_id", ID_ARG), query("model", STR), query("status", STATUS_ARG),
              query("request_id", STR), query("q", STR),
              query("after_id", ID_ARG), query("client_dialect", DIALECT),
              query("provider_dialect", DIALECT),
              query("agent_session", {"type": "string", "maxLength": 128})]
GROUP_BY = {"type": "string", "enum": ["token", "endpoint", "model", "provider",
                                       "client_dialect", "provider_dialect", "agent_session"],
            "description": "agent_session is summed from the request-log rows still kept "
                           "(log_retention_days), the rest from rollups kept forever"}


def _client_paths() -> dict[str, Any]:
    chat = op("Chat completion (stream with \"stream\": true)", "client",
              ref("ChatCompletion"), "ChatRequest", security="token")
    chat["responses"]["200"]["content"]["text/event-stream"] = {  # "stream": true
        "schema": {"description": "each event's data: a chat.completion.chunk object (or "
                                  "one error object), then [DONE]"}}
    embed = op("Embeddings", "client", ref("Embeddings"), "EmbeddingsRequest", security="token")
    models = op("Endpoints this token may use, as models", "client", ref("ModelList"),
                security="token", params=[query("provider", STR)])
    messages = op("Anthropic Messages (stream with \"stream\": true; ?beta=true accepted)",
                  "client", ref("AnthropicMessage"), "MessagesRequest", security="token")
    count = op("Anthropic token count (X-ModelProxy-Token-Count: estimate where the "
               "provider has no exact count)", "client", ref("TokenCount"),
               "CountTokensRequest", security="token")
    responses = op("OpenAI Responses (stream with \"stream\": true; stateless)", "client",
                   ref("Response"), "ResponsesRequest", security="token")
    for streamed in (messages, responses):
        streamed["responses"]["200"]["content"]["text/event-stream"] = {
            "schema": {"description": "the dialect's own events, translated as they come"}}
    return {
        "/v1/messages": {"post": messages}, "/v1/messages/count_tokens": {"post": count},
        "/v1/responses": {"post": responses},
        "/api/health": {"get": op("Health (no auth)", "client", ref("Health"), security=None)},
        "/api/chat": {"post": chat}, "/api/embeddings": {"post": embed},
        "/api/{path}": {"post": {**op("Any configured endpoint path", "client", {},
                                      security="token"),
                                 "parameters": [{"name": "path", "in": "path", "required": True,
                                                 "schema": STR}]}},
        "/api/models": {"get": models}, "/v1/models": {"get": models},
        "/v1/chat/completions": {"post": chat}, "/v1/embeddings": {"post": embed},
        "/metrics": {"get": op("Prometheus metrics (MODELPROXY_ADMIN_ALLOW; loopback)",
                               "admin", {"type": "string"}, security=None,
                               content="text/plain")},
    }


def _admin_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/admin/api/login": {"post": op("Log in", "session", ref("Session"), "Login",
                                        security=None)},
        "/admin/api/logout": {"post": op("Log out", "session", status="204")},
        "/admin/api/me": {"get": op("The admin logged in", "session", ref("Admin"))},
        "/admin/api/setup": {
            "get": op("Whether first-run setup is needed (while it is: the admin allow-list "
                      "in force and the caller's address)", "session", ref("SetupStatus"),
                      security=None),
            "post": op("Create the first admin with the setup code", "session", ref("Admin"),
                       "Setup", "201", security=None)},
        "/admin/api/providers/{provider_id}/test": {
            "parameters": [path_id("provider_id")],
            "post": op("Test a provider's connection", "providers", ref("ProviderTest"))},
        "/admin/api/tokens/{token_id}/revoke": {
            "parameters": [path_id("token_id")],
            "post": op("Revoke a token", "tokens", ref("Token"))},
        "/admin/api/usage": {"get": op("Usage time series", "usage", ref("Usage"), params=[
            *RANGE_PARAMS, query("bucket", {"type": "string", "enum": ["hour", "day"]}),
            query("group_by", GROUP_BY), query("token_id", ID_ARG),
            query("endpoint_id", ID_ARG), query("provider_id", ID_ARG), query("model", STR),
            query("client_dialect", STR), query("provider_dialect", STR)])},
        "/admin/api/overview": {"get": op("Overview", "usage", ref("Overview"))},
        "/admin/api/logs": {"get": op(
            "Request logs, newest first", "logs",
            obj(["items"], items=arr(ref("LogRow")), next_cursor=NSTR),
            params=[*LOG_PARAMS, query("limit", PAGE_LIMIT), query("cursor", LOG_CURSOR)])},
        "/admin/api/logs/export.csv": {"get": op("Request logs as CSV", "logs", STR,
                                                 params=LOG_PARAMS, content="text/csv")},
        "/admin/api/audit": {"get": op(
            "Audit log, newest first", "audit",
            obj(["items"], items=arr(ref("AuditRow")), next_cursor=NSTR),
            params=[query("from", TIME_ARG), query("to", TIME_ARG), query("actor", STR),
                    query("action", STR), query("target_type", STR),
                    query("target_id", ID_ARG), query("limit", PAGE_LIMIT),
                    query("cursor", ID_ARG)])},
        "/admin/api/settings": {
            "get": op("Run-time settings", "settings", obj(items=arr(ref("Setting")))),
            "patch": op("Change settings (null: back to the default)", "settings",
                        obj(items=arr(ref("Setting"))), "SettingsInput")},
        "/admin/api/openapi.json": {"get": op("This document", "session", {"type": "object"},
                                              security=None)},
    }
    paths.update(_crud("providers", "provider", "Provider", "ProviderInput", "ProviderUpdate",
                       "provider_id"))
    paths.update(_crud("endpoints", "endpoint", "Endpoint", "EndpointInput", "EndpointUpdate",
                       "endpoint_id"))
    paths.update(_crud("tokens", "token", "Token", "TokenInput", "TokenUpdate", "token_id"))
    paths.update(_target_paths())
    paths.update(_crud("admins", "admin", "Admin", "AdminInput", "AdminUpdate", "admin_id"))
    paths["/admin/api/tokens"]["post"]["responses"]["201"]["content"][JSON]["schema"] = ref(
        "TokenCreated")
    return paths


def _target_paths() -> dict[str, Any]:
    targets = "/admin/api/endpoints/{endpoint_id}/targets"
    return {
        targets: {"parameters": [path_id("endpoint_id")],
                  "get": op("An endpoint's targets, in the order they are tried", "endpoints",
                            obj(["items"], items=arr(ref("Target")))),
                  "post": op("Add a target (without a priority: a fallback after the rest)",
                             "endpoints", ref("Target"), "TargetInput", "201")},
        targets + "/{target_id}": {
            "parameters": [path_id("endpoint_id"), path_id("target_id")],
            "patch": op("Change some fields of a target", "endpoints", ref("Target"),
                        "TargetUpdate"),
            "delete": op("Remove a target (its endpoint's only enabled one: 409)",
                         "endpoints", status="204")},
        "/admin/api/prices": {"get": op("The shipped price table (USD per million tokens)",
                                        "endpoints", ref("Prices"))},
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "ModelProxy", "version": __version__,
                 "description": "The client API (/api, /v1: client tokens) and the admin "
                                "API (/admin/api: admin sessions)."},
        "paths": {**_client_paths(), **_admin_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "mpx_ client token"},
                "session": {"type": "http", "scheme": "bearer",
                            "description": "mps_ admin session from POST /admin/api/login"}},
        },
    }


@bp.get("/openapi.json", endpoint="openapi")
def openapi() -> ResponseReturnValue:
    return jsonify(document())

