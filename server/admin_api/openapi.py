"""GET /admin/api/openapi.json: the client and admin APIs described in OpenAPI 3.0.

Written out by hand from small builders; tests/server/test_admin_openapi.py checks that every
route the app has is here and every path here is a route.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from app import __version__
from app.services import endpoints, options, provider_types, tokens
from server.admin_api.auth import bp

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str] | None = None, **props: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {
    "type": "boolean"}
NSTR, NINT, NNUM = ({"type": "string", "nullable": True}, {"type": "integer", "nullable": True},
                    {"type": "number", "nullable": True})
TIME = {"type": "string", "format": "date-time"}
NTIME = {**TIME, "nullable": True}
LIMIT = {"type": "integer", "minimum": 0, "nullable": True}
# Times the server takes: ISO 8601 in the years it can store (validation.timestamp)
TIME_ARG = {**TIME, "pattern": "^(197[1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])-"}

def inp(required: list[str] | None = None, **props: Any) -> dict[str, Any]:
    """A request body: the server refuses fields it does not know (400)."""
    return {**obj(required, **props), "additionalProperties": False}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


# What the services accept (app/services/validation.py and each service's _clean):
NAME = {"type": "string", "pattern": r"^\s*[A-Za-z0-9][A-Za-z0-9 ._:@/-]{0,99}\s*$"}
URL = {"type": "string", "pattern": r"^\s*https?://[A-Za-z0-9._~%-]+(:[0-9]{1,5})?(/\S*)?\s*$"}
ENDPOINT_PATH = {"type": "string", "maxLength": 200,
                 "pattern": r"^\s*/api(/[A-Za-z0-9._~-]+)+\s*$"}
ONE_LINE = {"type": "string", "maxLength": 200, "pattern": r"^[^\n]*\S[^\n]*$"}
HEADERS = {"type": "object", "additionalProperties": False, "patternProperties": {
               r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$": {"type": "string", "pattern": r"^[^\r\n]*$"}},
           "description": "Names to values; answers show hints (…a1b2). Sent back unchanged, a "
                          "hint keeps the stored value; a name left out is removed."}
TIMEOUT = {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 3600,
           "nullable": True}
PRICE = {"type": "number", "minimum": 0, "maximum": 1_000_000, "nullable": True}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 72,
            "description": "8 characters to 72 bytes"}
ROLE = {"type": "string", "enum": ["admin", "viewer"]}
LIMIT32 = {**LIMIT, "maximum": 2**31 - 1}
LIMIT64 = {**LIMIT, "maximum": 2**63 - 1}


def _provider_fields() -> dict[str, Any]:
    return {"name": NAME, "type": {"type": "string", "enum": sorted(provider_types.known_types())},
            "base_url": nullable(URL),
            "api_key": {"type": "string", "writeOnly": True, "pattern": r"^\s*\S{0,4096}\s*$",
                        "description": "write-only; \"\" removes the stored key"},
            "headers": nullable(HEADERS), "timeout_s": TIMEOUT, "enabled": nullable(BOOL)}


ENDPOINT_FIELDS = {"name": NAME, "path": ENDPOINT_PATH,
                   "kind": {"type": "string", "enum": list(endpoints.KINDS)}, "model": ONE_LINE,
                   "provider_id": {"type": "integer", "minimum": 1}, "enabled": nullable(BOOL),
                   "price_input_per_m": PRICE, "price_output_per_m": PRICE,
                   "aliases": nullable({**arr(NAME), "maxItems": endpoints.MAX_ALIASES,
                                        "description": "extra model names the endpoint "
                                        "answers to (e.g. an agent's claude-sonnet-4-5), "
                                        "unique across every endpoint's names and aliases "
                                        "(409)"})}
TOKEN_FIELDS = {"name": NAME,
                "scopes": nullable({**arr({"type": "string", "enum": list(tokens.SCOPES)}),
                                    "minItems": 1}),
                "rpm": LIMIT32, "monthly_requests": LIMIT32, "monthly_tokens": LIMIT64,
                "allowed_ips": nullable(arr(STR)),
                "allowed_endpoints": nullable(arr({"type": "integer", "minimum": 1})),
                "expires_at": {"oneOf": [TIME_ARG, {"type": "string", "enum": [""]}],
                               "nullable": True, "description": "null or \"\": never"}}

OPTION_SCHEMAS = {  # app.services.options.OPTIONS's checks
    "log_retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
    "cors_origins": arr({"type": "string", "pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"}),
    "max_body_bytes": {"type": "integer", "minimum": 1024, "maximum": 1024**3},
    "provider_check_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
    "backups_kept": {"type": "integer", "minimum": 1, "maximum": 365},
    "quota_reserve_tokens": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    "route_attempts": {"type": "integer", "minimum": 1, "maximum": 10},
    "route_time_budget_s": {"type": "integer", "minimum": 1, "maximum": 600},
    "cooldown_failures": {"type": "integer", "minimum": 1, "maximum": 100},
    "cooldown_window_s": {"type": "integer", "minimum": 1, "maximum": 3600},
    "cooldown_s": {"type": "integer", "minimum": 1, "maximum": 86400},
    "budget_webhook_url": {"type": "string", "maxLength": 2000, "pattern": r"^(https?://.+)?$"},
}

DIALECT = {"type": "string", "nullable": True, "enum": ["chat", "responses", "messages", None],
           "description": "chat completions, OpenAI Responses or Anthropic Messages; null for "
                          "embeddings, model lists and rows before version 7"}

SCHEMAS: dict[str, Any] = {
    "Error": obj(["error"], error=obj(["message", "type"], message=STR, type=STR, code=NSTR)),
    "Provider": obj(id=INT, name=STR, type=STR, base_url=STR, api_key_set=BOOL,
                    api_key_hint=NSTR, headers={"type": "object", "additionalProperties": STR},
                    timeout_s=NUM, enabled=BOOL, created_at=TIME, updated_at=TIME),
    "ProviderInput": inp(["name", "type"], **_provider_fields()),
    "ProviderUpdate": inp(**_provider_fields()),
    "ProviderTest": obj(["ok", "latency_ms"], ok=BOOL, latency_ms=NUM, models=arr(STR),
                        error=STR),
    "Endpoint": obj(id=INT, name=STR, path=STR, kind=STR, model=STR, provider_id=INT,
                    enabled=BOOL, aliases=arr(STR), price_input_per_m=NNUM,
                    price_output_per_m=NNUM, created_at=TIME, updated_at=TIME),
    "EndpointInput": inp(["name", "path", "kind", "model", "provider_id"], **ENDPOINT_FIELDS),
    "EndpointUpdate": inp(**ENDPOINT_FIELDS),
    "Token": obj(id=INT, name=STR, prefix=STR, scopes=arr(STR), rpm=NINT,
                 monthly_requests=NINT, monthly_tokens=NINT, allowed_ips=arr(STR),
                 allowed_endpoints=arr(INT), expires_at=NTIME, revoked=BOOL, created_at=TIME,
                 last_used_at=NTIME, usage_month=obj(requests=INT, tokens=INT)),
    "TokenInput": inp(["name"], **TOKEN_FIELDS),
    "TokenUpdate": inp(**TOKEN_FIELDS),
    "TokenCreated": {"allOf": [ref("Token"), obj(["token"], token=STR)]},
    "Admin": obj(id=INT, username=STR, role=STR, created_at=TIME),
    "AdminInput": inp(["username", "password"], username=NAME, password=PASSWORD, role=ROLE),
    "AdminUpdate": inp(role=ROLE, password=PASSWORD),
    "Login": obj(["username", "password"], username=STR, password=STR),
    "Session": obj(["token", "expires_at", "user"], token=STR, expires_at=TIME,
                   user=ref("Admin")),
    "Setup": obj(["username", "password", "code"], username=STR, password=STR, code=STR),
    "Totals": obj(requests=INT, errors=INT, prompt_tokens=INT, completion_tokens=INT,
                  cached_tokens=INT, cost=NUM, unpriced_requests=INT, p50_ms=NNUM,
                  p95_ms=NNUM),
    "Usage": obj(bucket=STR, group_by=NSTR, totals=ref("Totals"),
                 series=arr(obj(key={}, name=STR, totals=ref("Totals"),
                                points=arr({"allOf": [ref("Totals"), obj(t=TIME)]})))),
    "Overview": obj(requests_today=INT, tokens_this_month=INT, currency=STR,
                    cost_this_month=NUM, unpriced_requests_this_month=INT,
                    error_rate_24h=NUM, requests_24h=INT, active_tokens=INT,
                    top_tokens=arr({"type": "object"}), top_endpoints=arr({"type": "object"}),
                    upstream_health=arr({"type": "object"}), budgets=arr(ref("Budget"))),
    "Budget": obj(subject={"type": "string", "enum": ["token", "endpoint"]}, id=INT,
                  name=STR, budget=NUM, spent=NUM, percent=NUM,
                  level={"type": "string", "enum": ["ok", "warning", "exceeded"]}),
    "LogRow": obj(id=INT, request_id=STR, time=TIME, token_id=NINT, token=NSTR,
                  endpoint_id=NINT, endpoint=NSTR, provider_id=NINT, model=NSTR, status=INT,
                  latency_ms=NUM, ttfb_ms=NNUM, prompt_tokens=INT, completion_tokens=INT,
                  usage_estimated=BOOL, client_ip=NSTR, stream=BOOL, error=NSTR,
                  client_dialect=DIALECT, provider_dialect=DIALECT, agent_session=NSTR,
                  target_id=NINT, cached_tokens=INT, attempts=INT,
                  cost={**NUM, "nullable": True, "description": "USD, at the prices when the "
                        "row was written; null: no price known for the model"},
                  attempt_log=arr(obj(target_id=NINT, provider_id=NINT, model=NSTR,
                                      status=INT, latency_ms=NNUM, error=NSTR))),
    "AuditRow": obj(id=INT, time=TIME, actor=STR, source=NSTR, action=STR, target_type=STR,
                    target_id=NINT, changes={"type": "object"}),
    "Setting": obj(name=STR, value={}, default={}, source=STR, description=STR),
    "SettingsInput": inp(**{name: {**OPTION_SCHEMAS[name], "nullable": True}
                            for name in options.OPTIONS}),
    "Message": obj(["role"], role=STR, content={}),
    "ChatRequest": obj(["messages"], endpoint=STR, model=STR,
                       messages={**arr(ref("Message")), "minItems": 1}, stream=BOOL,
                       stream_options=obj(include_usage=BOOL)),
    # The agents' dialects: their fields are the vendors' (Anthropic Messages, OpenAI
    # Responses); only what the server itself checks before translating is described.
    "MessagesRequest": obj(["model", "messages"], model=STR, max_tokens=INT, stream=BOOL,
                           messages={**arr(ref("Message")), "minItems": 1},
                           tools=arr({"type": "object"})),
    "CountTokensRequest": obj(["model", "messages"], model=STR,
                              messages={**arr(ref("Message")), "minItems": 1},
                              tools=arr({"type": "object"})),
    "ResponsesRequest": obj(["model"], model=STR, stream=BOOL,
                            input={"oneOf": [STR, arr({"type": "object"})]},
                            tools=arr({"type": "object"})),
    "AnthropicMessage": obj(id=STR, type=STR, role=STR, content=arr({"type": "object"}),
                            stop_reason={"type": "string", "nullable": True},
                            usage={"type": "object"}),
    "TokenCount": obj(["input_tokens"], input_tokens=INT),
    "Response": obj(id=STR, object=STR, status=STR, output=arr({"type": "object"}),
                    usage={"type": "object", "nullable": True}),
    "EmbeddingsRequest": obj(["input"], endpoint=STR, model=STR,
                             input={"oneOf": [STR, {**arr(STR), "minItems": 1}]}),
    "ChatCompletion": obj(id=STR, object=STR, choices=arr({"type": "object"}),
                          usage={"type": "object"}),
    "Embeddings": obj(object=STR, data=arr({"type": "object"}), usage={"type": "object"}),
    "ModelList": obj(object=STR, data=arr(obj(id=STR, object=STR, owned_by=STR,
                                               endpoint=STR, kind=STR, model=STR))),
    "Health": obj(status=STR, version=STR, database=STR, writer=STR,
                  data_dir=STR, database_url=STR),  # the last two for an admin session only
}


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
            "get": op("Whether first-run setup is needed", "session", obj(needed=BOOL),
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
    paths.update(_crud("admins", "admin", "Admin", "AdminInput", "AdminUpdate", "admin_id"))
    paths["/admin/api/tokens"]["post"]["responses"]["201"]["content"][JSON]["schema"] = ref(
        "TokenCreated")
    return paths


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

