"""The JSON schemas of openapi.json (server/admin_api/openapi.py): the builders, what the
services accept (app/services/validation.py and each service's _clean), and the components.
"""

from __future__ import annotations

from typing import Any

from app.services import endpoints, options, provider_types, target_fields, tokens
from app.services import validation as v

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
PRICE = {"type": "number", "minimum": 0, "maximum": float(v.MAX_PRICE), "nullable": True,
         "description": "USD per million tokens; null: the shipped price table's"}
BUDGET = {"type": "number", "minimum": 0, "maximum": float(v.MAX_BUDGET), "nullable": True,
          "description": "USD per calendar month (UTC); null: no budget"}
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


PROVIDER_REF = {"type": "integer", "minimum": 1}
# null where the server takes null as "not given" (so the document refuses nothing it takes)
TARGET_FIELDS = {
    "provider_id": nullable(PROVIDER_REF),
    "provider": {"oneOf": [PROVIDER_REF, NAME], "nullable": True,
                 "description": "id or name (or provider_id)"},
    "model": {**ONE_LINE, "description": "the provider's name for the model"},
    "priority": {"type": "integer", "minimum": target_fields.PRIORITY[0],
                 "maximum": target_fields.PRIORITY[1], "nullable": True,
                 "description": "lower is tried first; default: one more than the highest "
                                "(a fallback), in a targets list its place in the list"},
    "weight": {"type": "integer", "minimum": target_fields.WEIGHT[0],
               "maximum": target_fields.WEIGHT[1], "nullable": True,
               "description": "share of requests among targets of one priority (default 1)"},
    "enabled": nullable(BOOL),
    **dict.fromkeys(target_fields.PRICE_FIELDS, PRICE),
}
TARGET_ITEM = inp(["model"], id={"type": "integer", "minimum": 1, "nullable": True,
                                 "description": "keep this target (its health and id); "
                                                "else one of the same provider and model "
                                                "is kept"},
                  **TARGET_FIELDS)
TARGETS = {**arr(TARGET_ITEM), "minItems": 1, "maxItems": target_fields.MAX_TARGETS,
           "nullable": True,
           "description": "replaces the endpoint's targets whole (one enabled at least); "
                          "instead of model and provider_id"}
ENDPOINT_FIELDS = {"name": NAME, "path": ENDPOINT_PATH,
                   "kind": {"type": "string", "enum": list(endpoints.KINDS)}, "model": ONE_LINE,
                   "provider_id": {"type": "integer", "minimum": 1}, "enabled": nullable(BOOL),
                   "price_input_per_m": PRICE, "price_output_per_m": PRICE,
                   "aliases": nullable({**arr(NAME), "maxItems": endpoints.MAX_ALIASES,
                                        "description": "extra model names the endpoint "
                                        "answers to (e.g. an agent's claude-sonnet-4-5), "
                                        "unique across every endpoint's names and aliases "
                                        "(409)"}),
                   "targets": TARGETS, "monthly_budget": BUDGET}
TOKEN_FIELDS = {"name": NAME,
                "scopes": nullable({**arr({"type": "string", "enum": list(tokens.SCOPES)}),
                                    "minItems": 1}),
                "rpm": LIMIT32, "monthly_requests": LIMIT32, "monthly_tokens": LIMIT64,
                "allowed_ips": nullable(arr(STR)),
                "allowed_endpoints": nullable(arr({"type": "integer", "minimum": 1})),
                "expires_at": {"oneOf": [TIME_ARG, {"type": "string", "enum": [""]}],
                               "nullable": True, "description": "null or \"\": never"},
                "monthly_budget": BUDGET}

# IPs or CIDRs; one that leaves out the caller's own address is refused (400)
ADDRESS_LIST = {**arr({"type": "string", "maxLength": 64}), "maxItems": 100}

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
    "admin_allow": ADDRESS_LIST,
}

DIALECT = {"type": "string", "nullable": True, "enum": ["chat", "responses", "messages", None],
           "description": "chat completions, OpenAI Responses or Anthropic Messages; null for "
                          "embeddings, model lists and rows before version 7"}

SCHEMAS: dict[str, Any] = {
    "Error": obj(["error"], error=obj(["message", "type"], message=STR, type=STR, code=NSTR)),
    "Provider": obj(id=INT, name=STR, type=STR, base_url=STR, api_key_set=BOOL,
                    api_key_hint=NSTR, headers={"type": "object", "additionalProperties": STR},
                    timeout_s=NUM, enabled=BOOL, created_at=TIME, updated_at=TIME,
                    targets_health=arr(obj(target_id=INT, endpoint_id=INT, endpoint=STR,
                                           model=STR, health=ref("TargetHealth")))),
    "TargetHealth": {**obj(state={"type": "string",
                                  "enum": ["healthy", "cooling", "half_open"]},
                           cooling_for_s=NNUM, recent_failures=INT, last_error=NSTR,
                           last_status=NINT),
                     "nullable": True, "description": "the server's router's; null: none"},
    "Price": {**obj(input=NUM, cached_input=NUM, output=NUM, source=STR), "nullable": True,
              "description": "USD per million tokens; source \"target\" or \"table "
                             "YYYY-MM-DD\"; null: no price known"},
    "Target": obj(id=INT, endpoint_id=INT, provider_id=INT, provider=STR, model=STR,
                  priority=INT, weight=INT, enabled=BOOL, price_input_per_m=NNUM,
                  price_cached_input_per_m=NNUM, price_output_per_m=NNUM, price=ref("Price"),
                  health=ref("TargetHealth")),
    "TargetInput": inp(["model"], **TARGET_FIELDS),
    "TargetUpdate": inp(**TARGET_FIELDS),
    "Prices": obj(currency=STR, unit=STR, taken=STR, source=STR,
                  types={"type": "object", "additionalProperties": {
                      "type": "object", "additionalProperties": obj(
                          input=NUM, cached_input=NUM, output=NUM)}}),
    "ProviderInput": inp(["name", "type"], **_provider_fields()),
    "ProviderUpdate": inp(**_provider_fields()),
    "ProviderTest": obj(["ok", "latency_ms"], ok=BOOL, latency_ms=NUM, models=arr(STR),
                        error=STR),
    "Endpoint": obj(id=INT, name=STR, path=STR, kind=STR, model=STR, provider_id=INT,
                    enabled=BOOL, aliases=arr(STR), price_input_per_m=NNUM,
                    price_output_per_m=NNUM, targets=arr(ref("Target")),
                    monthly_budget=NNUM, spent_this_month=NUM, created_at=TIME,
                    updated_at=TIME),
    # Either `targets` or `model` and `provider_id` (the one-provider API): not both.
    "EndpointInput": inp(["name", "path", "kind"], **ENDPOINT_FIELDS),
    "EndpointUpdate": inp(**ENDPOINT_FIELDS),
    "Token": obj(id=INT, name=STR, prefix=STR, scopes=arr(STR), rpm=NINT,
                 monthly_requests=NINT, monthly_tokens=NINT, allowed_ips=arr(STR),
                 allowed_endpoints=arr(INT), expires_at=NTIME, monthly_budget=NNUM,
                 spent_this_month=NUM, revoked=BOOL, created_at=TIME,
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
    "Setup": obj(["username", "password", "code"], username=STR, password=STR, code=STR,
                 admin_allow={**ADDRESS_LIST, "nullable": True}),
    "SetupStatus": obj(["needed"], needed=BOOL, address=STR, admin_allow=arr(STR),
                       admin_allow_source={"type": "string",
                                           "enum": ["environment", "admin", "none"]}),
    "Totals": obj(requests=INT, errors=INT, prompt_tokens=INT, completion_tokens=INT,
                  cached_tokens=INT, cost=NUM, unpriced_requests=INT, p50_ms=NNUM,
                  p95_ms=NNUM),
    "Usage": obj(bucket=STR, group_by=NSTR, totals=ref("Totals"),
                 series=arr(obj(key={}, name=STR, totals=ref("Totals"),
                                points=arr({"allOf": [ref("Totals"), obj(t=TIME)]})))),
    "Overview": obj(requests_today=INT, tokens_this_month=INT, cost_this_month=NUM,
                    error_rate_24h=NUM, requests_24h=INT, active_tokens=INT,
                    top_tokens=arr({"type": "object"}), top_endpoints=arr({"type": "object"}),
                    upstream_health=arr({"type": "object"}), currency=STR,
                    unpriced_requests_this_month=INT,
                    budgets=arr(obj(subject={"type": "string", "enum": ["token", "endpoint"]},
                                    id=INT, name=STR, budget=NUM, spent=NUM, percent=NUM,
                                    level={"type": "string",
                                           "enum": ["ok", "warning", "exceeded"]}))),
    "LogRow": obj(id=INT, request_id=STR, time=TIME, token_id=NINT, token=NSTR,
                  endpoint_id=NINT, endpoint=NSTR, provider_id=NINT, model=NSTR, status=INT,
                  latency_ms=NUM, ttfb_ms=NNUM, prompt_tokens=INT, completion_tokens=INT,
                  usage_estimated=BOOL, client_ip=NSTR, stream=BOOL, error=NSTR,
                  client_dialect=DIALECT, provider_dialect=DIALECT, agent_session=NSTR,
                  target_id=NINT, attempts=INT, cached_tokens=INT, cost=NNUM,
                  attempt_log=arr(obj(target_id=NINT, provider_id=NINT, model=NSTR,
                                      status=NINT, latency_ms=NNUM, error=NSTR))),
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
