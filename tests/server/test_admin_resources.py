"""Providers, endpoints, tokens, admins, settings and the audit log through the admin API:
create/read/update/delete, validation (400 naming the field, 409 duplicates, 404 unknown
ids), and every change taking effect on the client API at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import requests

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.fakes.upstream import DEFAULT_MODELS  # noqa: E402
from tests.live import free_port  # noqa: E402
from tests.server.admin_fixtures import (  # noqa: E402
    ADMIN_USER,
    HTTP_TIMEOUT,
    PROVIDER_KEY,
    AdminAppliance,
    AdminClient,
    assert_api_error,
    chat,
    login_response,
    unique,
    wait_until,
)

pytest_plugins = ["tests.server.admin_fixtures"]

PROVIDER_FIELDS = {"id", "name", "type", "base_url", "api_key_set", "api_key_hint", "headers",
                   "timeout_s", "enabled", "created_at"}
ENDPOINT_FIELDS = {"id", "name", "path", "kind", "model", "provider_id", "enabled"}
TOKEN_FIELDS = {"id", "name", "prefix", "scopes", "rpm", "monthly_requests", "monthly_tokens",
                "allowed_ips", "allowed_endpoints", "expires_at", "revoked", "created_at",
                "last_used_at", "usage_month"}
ADMIN_FIELDS = {"id", "username", "role", "created_at"}
MISSING = 987654


def _root(env: AdminAppliance) -> AdminClient:
    assert env.admin is not None
    return env.admin


def _iso(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- providers ---------------------------------------------------------------------------------


def test_provider_crud_never_returns_the_key(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    assert admin_env.fake is not None
    key = "sk-crud-" + unique("key")
    name = unique("prov")
    created = root.ok("POST", "providers", 201, json={
        "name": name, "type": "openai_compatible", "base_url": admin_env.fake.base_url + "/",
        "api_key": key, "headers": {"X-Team": "blue"}, "timeout_s": 12.5})
    assert set(created) >= PROVIDER_FIELDS and "api_key" not in created
    assert created["name"] == name and created["type"] == "openai_compatible"
    assert created["base_url"] == admin_env.fake.base_url
    assert created["api_key_set"] is True and created["api_key_hint"] == "…" + key[-4:]
    assert created["headers"] == {"X-Team": "…"} and created["timeout_s"] == 12.5
    assert created["enabled"] is True
    pid = created["id"]

    listed = root.ok("GET", "providers")["items"]
    assert [p for p in listed if p["id"] == pid] == [created]
    assert root.ok("GET", f"providers/{pid}") == created

    changed = root.ok("PATCH", f"providers/{pid}", json={"timeout_s": 30, "enabled": False})
    assert (changed["timeout_s"], changed["enabled"]) == (30, False)
    assert changed["api_key_set"] is True and changed["headers"] == {"X-Team": "…"}
    assert root.ok("GET", f"providers/{pid}")["enabled"] is False

    replaced = root.ok("PATCH", f"providers/{pid}", json={"api_key": "sk-second-key-abcd9876"})
    assert replaced["api_key_hint"] == "…9876" and replaced["api_key_set"] is True
    cleared = root.ok("PATCH", f"providers/{pid}", json={"api_key": ""})
    assert cleared["api_key_set"] is False and cleared["api_key_hint"] is None

    for exchange in root.seen:
        assert key not in exchange.text and "sk-second-key-abcd9876" not in exchange.text

    assert root.request("DELETE", f"providers/{pid}").status_code == 204
    assert_api_error(root.get(f"providers/{pid}"), 404)
    assert pid not in [p["id"] for p in root.ok("GET", "providers")["items"]]
    assert_api_error(root.delete(f"providers/{pid}"), 404)


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"type": "echo"}, "name"),
    ({"name": "bad name!", "type": "echo"}, "name"),
    ({"name": "NAME"}, "type"),
    ({"name": "NAME", "type": "gopher"}, "type"),
    ({"name": "NAME", "type": "openai_compatible"}, "base_url"),
    ({"name": "NAME", "type": "openai_compatible", "base_url": "ftp://x.example"}, "base_url"),
    ({"name": "NAME", "type": "openai_compatible", "base_url": "not a url"}, "base_url"),
    ({"name": "NAME", "type": "echo", "headers": {"bad header": "x"}}, "headers"),
    ({"name": "NAME", "type": "echo", "headers": ["X-A"]}, "headers"),
    ({"name": "NAME", "type": "echo", "timeout_s": -1}, "timeout_s"),
    ({"name": "NAME", "type": "echo", "timeout_s": "soon"}, "timeout_s"),
    ({"name": "NAME", "type": "echo", "enabled": "yes"}, "enabled"),
    ({"name": "NAME", "type": "echo", "api_key": "two words"}, "api_key"),
    ({"name": "NAME", "type": "echo", "api_key": 1234}, "api_key"),
    ({"name": "NAME", "type": "echo", "colour": "red"}, "colour"),
])
def test_provider_validation_names_the_field(admin_env: AdminAppliance, body: dict,
                                             field: str) -> None:
    root = _root(admin_env)
    name = unique("bad")
    body = {k: (name if v == "NAME" else v) for k, v in body.items()}
    error = assert_api_error(root.post("providers", json=body), 400, mentions=field)
    assert error.get("param", field) == field
    assert name not in [p["name"] for p in root.ok("GET", "providers")["items"]]


def test_provider_bodies_must_be_json_objects(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    assert_api_error(root.post("providers", data=b"{not json",
                               headers={"Content-Type": "application/json"}), 400)
    assert_api_error(root.post("providers", json=["name", "type"]), 400)
    assert_api_error(root.post("providers"), 400)


def test_provider_duplicates_unknown_ids_and_providers_in_use(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    name = unique("dup")
    first = root.ok("POST", "providers", 201, json={"name": name, "type": "echo"})
    assert_api_error(root.post("providers", json={"name": name.upper(), "type": "echo"}), 409,
                     mentions=name.upper())
    other = root.ok("POST", "providers", 201, json={"name": unique("dup2"), "type": "echo"})
    assert_api_error(root.patch(f"providers/{other['id']}", json={"name": name}), 409)
    assert root.ok("GET", f"providers/{other['id']}")["name"] == other["name"]

    for method in ("GET", "PATCH", "DELETE"):
        assert_api_error(root.request(method, f"providers/{MISSING}", json={"enabled": True}),
                         404)
    assert_api_error(root.post(f"providers/{MISSING}/test"), 404)

    endpoint = root.create_endpoint(first["id"])
    error = assert_api_error(root.delete(f"providers/{first['id']}"), 409)
    assert endpoint["name"] in error["message"]
    assert root.ok("GET", f"providers/{first['id']}")["id"] == first["id"]
    assert root.delete(f"endpoints/{endpoint['id']}").status_code == 204
    assert root.delete(f"providers/{first['id']}").status_code == 204


def test_provider_connection_test(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    assert admin_env.fake is not None
    good = root.ok("POST", f"providers/{admin_env.provider_ids['fake']}/test")
    assert good["ok"] is True, good
    assert good["models"] == list(DEFAULT_MODELS)
    assert isinstance(good["latency_ms"], int | float) and good["latency_ms"] >= 0
    listing = [r for r in admin_env.fake.requests if r.path.endswith("/models")]
    assert listing and listing[-1].headers["Authorization"] == f"Bearer {PROVIDER_KEY}"

    echo = root.ok("POST", f"providers/{admin_env.provider_ids['echo']}/test")
    assert echo["ok"] is True and isinstance(echo["models"], list)

    closed = root.ok("POST", "providers", 201, json={
        "name": unique("closed"), "type": "openai_compatible",
        "base_url": f"http://127.0.0.1:{free_port()}/v1", "api_key": "sk-closed-port-0000"})
    bad = root.ok("POST", f"providers/{closed['id']}/test")
    assert bad["ok"] is False, bad
    assert isinstance(bad["error"], str) and bad["error"]
    assert "models" not in bad or not bad["models"]
    assert isinstance(bad["latency_ms"], int | float)
    assert "sk-closed-port-0000" not in str(bad)
    # the outcome is what the overview shows as that provider's health
    health = {h["provider_id"]: h for h in root.ok("GET", "overview")["upstream_health"]}
    assert health[closed["id"]]["ok"] is False and health[closed["id"]]["error"]
    assert health[admin_env.provider_ids["fake"]]["ok"] is True


def test_anthropic_provider_type(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    assert admin_env.fake is not None
    default = root.ok("POST", "providers", 201, json={
        "name": unique("claude"), "type": "anthropic", "api_key": "sk-ant-admin-test-0000"})
    assert (default["type"], default["base_url"]) == ("anthropic", "https://api.anthropic.com/v1")
    at_fake = root.ok("POST", "providers", 201, json={
        "name": unique("claude"), "type": "anthropic", "base_url": admin_env.fake.base_url,
        "api_key": PROVIDER_KEY})
    tested = root.ok("POST", f"providers/{at_fake['id']}/test")
    assert tested["ok"] is True and tested["models"] == list(DEFAULT_MODELS), tested
    listing = [r for r in admin_env.fake.requests if r.path.startswith("/v1/models?")]
    assert listing[-1].headers["x-api-key"] == PROVIDER_KEY
    assert listing[-1].headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in listing[-1].headers
    # (kept: a deleted provider's id comes back on SQLite, into other tests' audit rows)


def test_provider_changes_apply_to_the_client_api_at_once(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    provider = root.ok("POST", "providers", 201, json={"name": unique("p"), "type": "echo"})
    endpoint = root.create_endpoint(provider["id"])
    token = root.create_token()["token"]
    assert chat(admin_env.url, token, endpoint["path"]).status_code == 200
    root.ok("PATCH", f"providers/{provider['id']}", json={"enabled": False})
    assert_api_error(chat(admin_env.url, token, endpoint["path"]), 404, "endpoint_disabled")
    root.ok("PATCH", f"providers/{provider['id']}", json={"enabled": True})
    assert chat(admin_env.url, token, endpoint["path"]).status_code == 200


# --- endpoints ---------------------------------------------------------------------------------


def test_endpoint_crud_applies_to_the_client_api_at_once(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    assert admin_env.fake is not None
    echo, fake = admin_env.provider_ids["echo"], admin_env.provider_ids["fake"]
    name = unique("live")
    created = root.ok("POST", "endpoints", 201, json={
        "name": name, "path": f"/api/{name}", "kind": "chat", "model": "echo-model",
        "provider_id": echo, "price_input_per_m": 2.5, "price_output_per_m": 10})
    assert set(created) >= ENDPOINT_FIELDS
    assert (created["name"], created["path"], created["kind"], created["model"],
            created["provider_id"], created["enabled"]) == (
        name, f"/api/{name}", "chat", "echo-model", echo, True)
    assert (created["price_input_per_m"], created["price_output_per_m"]) == (2.5, 10)
    eid = created["id"]
    assert root.ok("GET", f"endpoints/{eid}") == created
    listed = next(e for e in root.ok("GET", "endpoints")["items"] if e["id"] == eid)
    assert listed == {**created, "spent_this_month": 0.0}  # lists add this month's spend

    token = root.create_token()["token"]
    answer = chat(admin_env.url, token, f"/api/{name}", "straight away")
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "echo: straight away"
    assert answer.json()["model"] == "echo-model"
    by_model = requests.post(admin_env.url + "/v1/chat/completions", timeout=HTTP_TIMEOUT,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"model": name, "messages": [{"role": "user", "content": "x"}]})
    assert by_model.status_code == 200, by_model.text

    assert root.ok("PATCH", f"endpoints/{eid}", json={"model": "echo-two"})["model"] == "echo-two"
    assert chat(admin_env.url, token, f"/api/{name}").json()["model"] == "echo-two"

    root.ok("PATCH", f"endpoints/{eid}", json={"enabled": False})
    assert_api_error(chat(admin_env.url, token, f"/api/{name}"), 404, "endpoint_disabled")
    root.ok("PATCH", f"endpoints/{eid}", json={"enabled": True})
    assert chat(admin_env.url, token, f"/api/{name}").status_code == 200

    moved = root.ok("PATCH", f"endpoints/{eid}", json={"provider_id": fake, "model": "gpt-4o"})
    assert moved["provider_id"] == fake
    admin_env.fake.clear()
    upstream = chat(admin_env.url, token, f"/api/{name}", "to the fake")
    assert upstream.status_code == 200, upstream.text
    assert admin_env.fake.last_request is not None
    assert admin_env.fake.last_request.body["model"] == "gpt-4o"

    new_path = f"/api/{name}/v2"
    assert root.ok("PATCH", f"endpoints/{eid}", json={"path": new_path})["path"] == new_path
    assert_api_error(chat(admin_env.url, token, f"/api/{name}"), 404, "endpoint_not_found")
    assert chat(admin_env.url, token, new_path).status_code == 200

    assert root.delete(f"endpoints/{eid}").status_code == 204
    assert_api_error(chat(admin_env.url, token, new_path), 404, "endpoint_not_found")
    assert_api_error(root.get(f"endpoints/{eid}"), 404)
    assert eid not in [e["id"] for e in root.ok("GET", "endpoints")["items"]]


@pytest.mark.parametrize(("change", "field"), [
    ({"name": None}, "name"),
    ({"path": None}, "path"),
    ({"path": "chat"}, "path"),
    ({"path": "/v1/chat"}, "path"),
    ({"path": "/api/models"}, "path"),
    ({"path": "/api/with space"}, "path"),
    ({"kind": "images"}, "kind"),
    ({"model": ""}, "model"),
    ({"provider_id": MISSING}, "provider"),
    ({"enabled": "no"}, "enabled"),
    ({"price_input_per_m": -1}, "price_input_per_m"),
    ({"price_output_per_m": "lots"}, "price_output_per_m"),
    ({"shape": "round"}, "shape"),
])
def test_endpoint_validation_names_the_field(admin_env: AdminAppliance, change: dict,
                                             field: str) -> None:
    root = _root(admin_env)
    name = unique("badep")
    body = {"name": name, "path": f"/api/{name}", "kind": "chat", "model": "m",
            "provider_id": admin_env.provider_ids["echo"]}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    assert_api_error(root.post("endpoints", json=body), 400, mentions=field)
    assert name not in [e["name"] for e in root.ok("GET", "endpoints")["items"]]


def test_endpoint_duplicates_and_unknown_ids(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    echo = admin_env.provider_ids["echo"]
    first = root.create_endpoint(echo)
    second = root.create_endpoint(echo)
    assert_api_error(root.post("endpoints", json={
        "name": first["name"].upper(), "path": f"/api/{unique('p')}", "kind": "chat",
        "model": "m", "provider_id": echo}), 409, mentions="name")
    assert_api_error(root.post("endpoints", json={
        "name": unique("n"), "path": first["path"], "kind": "chat", "model": "m",
        "provider_id": echo}), 409, mentions="path")
    assert_api_error(root.patch(f"endpoints/{second['id']}", json={"path": first["path"]}),
                     409, mentions="path")
    assert root.ok("GET", f"endpoints/{second['id']}")["path"] == second["path"]
    for method in ("GET", "PATCH", "DELETE"):
        assert_api_error(root.request(method, f"endpoints/{MISSING}", json={"model": "m"}), 404)


# --- tokens ------------------------------------------------------------------------------------


def test_token_lifecycle_applies_to_the_client_api_at_once(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    endpoint = root.create_endpoint(admin_env.provider_ids["echo"])
    other = root.create_endpoint(admin_env.provider_ids["echo"])
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    created = root.ok("POST", "tokens", 201, json={
        "name": unique("life"), "scopes": ["chat"], "rpm": 100, "monthly_requests": 1000,
        "monthly_tokens": 100000, "allowed_ips": ["127.0.0.1"],
        "allowed_endpoints": [endpoint["id"]], "expires_at": _iso(expires)})
    assert set(created) >= TOKEN_FIELDS | {"token"}
    plaintext = created["token"]
    assert plaintext.startswith("mpx_") and len(plaintext) == 47
    assert plaintext.startswith(created["prefix"]) and len(created["prefix"]) < len(plaintext)
    assert (created["scopes"], created["rpm"], created["monthly_requests"],
            created["monthly_tokens"]) == (["chat"], 100, 1000, 100000)
    assert created["allowed_ips"] == ["127.0.0.1/32"]
    assert created["allowed_endpoints"] == [endpoint["id"]]
    assert created["expires_at"] == _iso(expires) and created["revoked"] is False
    assert created["usage_month"] == {"requests": 0, "tokens": 0}
    assert created["last_used_at"] is None
    tid = created["id"]

    one = root.get(f"tokens/{tid}")
    listed = root.get("tokens")
    assert "token" not in one.json() and plaintext not in one.text
    assert plaintext not in listed.text
    assert {k: v for k, v in created.items() if k != "token"} == one.json()

    path = endpoint["path"]
    answer = chat(admin_env.url, plaintext, path)
    assert answer.status_code == 200, answer.text
    usage = answer.json()["usage"]
    assert_api_error(chat(admin_env.url, plaintext, other["path"]), 403, "endpoint_not_allowed")

    def counted() -> bool:
        return root.ok("GET", f"tokens/{tid}")["usage_month"]["requests"] == 1

    assert wait_until(counted, 8), root.ok("GET", f"tokens/{tid}")
    seen = root.ok("GET", f"tokens/{tid}")
    assert seen["usage_month"] == {
        "requests": 1, "tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
    assert seen["last_used_at"] is not None
    listed_usage = next(t for t in root.ok("GET", "tokens")["items"] if t["id"] == tid)
    assert listed_usage["usage_month"] == seen["usage_month"]

    root.ok("PATCH", f"tokens/{tid}", json={"scopes": ["embeddings"]})
    assert_api_error(chat(admin_env.url, plaintext, path), 403, "scope_not_allowed")
    root.ok("PATCH", f"tokens/{tid}", json={"scopes": ["chat"], "allowed_ips": ["10.0.0.0/8"]})
    assert_api_error(chat(admin_env.url, plaintext, path), 403, "ip_not_allowed")
    root.ok("PATCH", f"tokens/{tid}", json={"allowed_ips": []})
    past = _iso(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    root.ok("PATCH", f"tokens/{tid}", json={"expires_at": past})
    assert_api_error(chat(admin_env.url, plaintext, path), 403, "token_expired")
    root.ok("PATCH", f"tokens/{tid}", json={"expires_at": None, "allowed_endpoints": []})
    assert chat(admin_env.url, plaintext, other["path"]).status_code == 200
    root.ok("PATCH", f"tokens/{tid}", json={"rpm": 1})  # it has sent more in this minute
    limited = chat(admin_env.url, plaintext, path)
    assert_api_error(limited, 429, "rate_limit_exceeded")
    assert limited.headers["x-ratelimit-limit-requests"] == "1"
    root.ok("PATCH", f"tokens/{tid}", json={"rpm": None})
    assert chat(admin_env.url, plaintext, path).status_code == 200

    revoked = root.ok("POST", f"tokens/{tid}/revoke")
    assert revoked["revoked"] is True and "token" not in revoked
    assert_api_error(chat(admin_env.url, plaintext, path), 403, "token_revoked")
    assert root.ok("POST", f"tokens/{tid}/revoke")["revoked"] is True  # idempotent
    assert root.ok("GET", f"tokens/{tid}")["revoked"] is True

    assert root.delete(f"tokens/{tid}").status_code == 204
    assert_api_error(root.get(f"tokens/{tid}"), 404)
    assert_api_error(chat(admin_env.url, plaintext, path), 401, "invalid_token")
    assert tid not in [t["id"] for t in root.ok("GET", "tokens")["items"]]


def test_token_defaults(admin_env: AdminAppliance) -> None:
    created = _root(admin_env).ok("POST", "tokens", 201, json={"name": unique("plain")})
    assert created["scopes"] == ["all"]
    assert (created["rpm"], created["monthly_requests"], created["monthly_tokens"],
            created["expires_at"]) == (None, None, None, None)
    assert created["allowed_ips"] == [] and created["allowed_endpoints"] == []


@pytest.mark.parametrize(("change", "field"), [
    ({"name": None}, "name"),
    ({"name": "  "}, "name"),
    ({"scopes": ["root"]}, "scope"),
    ({"scopes": []}, "scopes"),
    ({"scopes": 7}, "scopes"),
    ({"rpm": -1}, "rpm"),
    ({"rpm": "many"}, "rpm"),
    ({"monthly_requests": True}, "monthly_requests"),
    ({"monthly_tokens": -5}, "monthly_tokens"),
    ({"allowed_ips": ["300.1.1.1"]}, "allowed_ips"),
    ({"allowed_ips": "10.0.0.0/8"}, "allowed_ips"),
    ({"allowed_endpoints": [MISSING]}, "allowed_endpoints"),
    ({"expires_at": "tomorrow"}, "expires_at"),
    ({"owner": "bob"}, "owner"),
])
def test_token_validation_names_the_field(admin_env: AdminAppliance, change: dict,
                                          field: str) -> None:
    root = _root(admin_env)
    name = unique("badtok")
    body = {k: v for k, v in {"name": name, **change}.items() if v is not None}
    assert_api_error(root.post("tokens", json=body), 400, mentions=field)
    assert name not in [t["name"] for t in root.ok("GET", "tokens")["items"]]
    existing = root.create_token()
    patch = {k: v for k, v in change.items() if k != "name" or v is not None}
    if patch:
        assert_api_error(root.patch(f"tokens/{existing['id']}", json=patch), 400,
                         mentions=field)


def test_token_unknown_ids_are_404(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    for method, path in [("GET", f"tokens/{MISSING}"), ("PATCH", f"tokens/{MISSING}"),
                         ("DELETE", f"tokens/{MISSING}"),
                         ("POST", f"tokens/{MISSING}/revoke")]:
        assert_api_error(root.request(method, path, json={"rpm": 1}), 404)


# Field names the views pass to the services themselves (box, actor, rounds, the id):
# sent in a body they must be refused like any unknown field, not crash the request.
@pytest.mark.parametrize(("method", "where", "field"), [
    ("POST", "tokens", "rounds"),
    ("POST", "tokens", "actor"),
    ("PATCH", "token", "token_id"),
    ("POST", "providers", "box"),
    ("PATCH", "provider", "provider_id"),
    ("POST", "endpoints", "actor"),
    ("PATCH", "endpoint", "endpoint_id"),
])
def test_unknown_fields_named_like_internal_parameters_are_400(
        admin_env: AdminAppliance, method: str, where: str, field: str) -> None:
    root = _root(admin_env)
    echo = admin_env.provider_ids["echo"]
    name = unique("odd")
    targets = {
        "tokens": ("tokens", {"name": name}),
        "token": (f"tokens/{root.create_token()['id']}" if where == "token" else "", {}),
        "providers": ("providers", {"name": name, "type": "echo"}),
        "provider": (f"providers/{echo}", {}),
        "endpoints": ("endpoints", {"name": name, "path": f"/api/{name}", "kind": "chat",
                                    "model": "m", "provider_id": echo}),
        "endpoint": (f"endpoints/{root.create_endpoint(echo)['id']}"
                     if where == "endpoint" else "", {}),
    }
    path, body = targets[where]
    response = root.request(method, path, json={**body, field: 1})
    assert_api_error(response, 400, mentions=field)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("tokens", {"rpm": 10**20}, "rpm"),
    ("tokens", {"monthly_tokens": 10**20}, "monthly_tokens"),
    ("tokens", {"expires_at": "0001-01-01T00:00:00+01:00"}, "expires_at"),
])
def test_out_of_range_values_are_400(admin_env: AdminAppliance, path: str, body: dict,
                                     field: str) -> None:
    response = _root(admin_env).post(path, json={"name": unique("range"), **body})
    assert_api_error(response, 400, mentions=field)


@pytest.mark.parametrize("resource", ["providers", "endpoints", "tokens", "admins"])
def test_ids_too_big_for_the_database_are_404(admin_env: AdminAppliance, resource: str) -> None:
    huge = 2**64 + 5  # the <int:...> routes take any size of number
    for method in ("GET", "DELETE"):
        assert_api_error(_root(admin_env).request(method, f"{resource}/{huge}"), 404)


# --- admins ------------------------------------------------------------------------------------


def test_admin_crud_and_password_change(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    username, password = unique("ops"), "ops-password-1111"
    created = root.post("admins", json={"username": username, "password": password,
                                        "role": "viewer"})
    assert created.status_code == 201, created.text
    admin = created.json()
    assert set(admin) >= ADMIN_FIELDS and "password" not in admin
    assert (admin["username"], admin["role"]) == (username, "viewer")
    assert password not in created.text
    listed = root.get("admins")
    assert admin in listed.json()["items"] and "password_hash" not in listed.text
    assert root.ok("GET", f"admins/{admin['id']}") == admin

    theirs = root.login(username, password)
    assert_api_error(theirs.post("tokens", json={"name": "x"}), 403, "read_only")
    assert root.ok("PATCH", f"admins/{admin['id']}", json={"role": "admin"})["role"] == "admin"
    assert theirs.ok("POST", "tokens", 201, json={"name": unique("by-ops")})["token"]

    new_password = "ops-password-2222"
    changed = root.patch(f"admins/{admin['id']}", json={"password": new_password})
    assert changed.status_code == 200 and new_password not in changed.text
    assert_api_error(theirs.get("me"), 401, "invalid_session")  # a new password ends sessions
    assert root.ok("GET", "me")["username"] == ADMIN_USER  # but not the changer's
    assert login_response(admin_env.url, username, password).status_code == 401
    assert login_response(admin_env.url, username, new_password).status_code == 200

    assert root.delete(f"admins/{admin['id']}").status_code == 204
    assert_api_error(root.get(f"admins/{admin['id']}"), 404)
    assert login_response(admin_env.url, username, new_password).status_code == 401
    # a good login clears the failures counted against this address
    assert login_response(admin_env.url, ADMIN_USER, "root-password-4821").status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"password": "long-enough-1"}, "username"),
    ({"username": "NAME"}, "password"),
    ({"username": "NAME", "password": "short"}, "password"),
    ({"username": "NAME", "password": "x" * 80}, "password"),
    ({"username": "NAME", "password": "long-enough-1", "role": "owner"}, "role"),
    ({"username": "NAME", "password": "long-enough-1", "email": "a@b"}, "email"),
])
def test_admin_validation_names_the_field(admin_env: AdminAppliance, body: dict,
                                          field: str) -> None:
    root = _root(admin_env)
    name = unique("adm")
    body = {k: (name if v == "NAME" else v) for k, v in body.items()}
    assert_api_error(root.post("admins", json=body), 400, mentions=field)
    assert name not in [a["username"] for a in root.ok("GET", "admins")["items"]]


def test_admin_duplicates_and_unknown_ids(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    assert_api_error(root.post("admins", json={"username": ADMIN_USER.upper(),
                                               "password": "long-enough-1"}), 409)
    viewer_id = admin_env.admin_ids["viewer"]
    assert_api_error(root.patch(f"admins/{viewer_id}", json={"role": "owner"}), 400,
                     mentions="role")
    assert_api_error(root.patch(f"admins/{viewer_id}", json={"password": "short"}), 400,
                     mentions="password")
    assert_api_error(root.patch(f"admins/{viewer_id}", json={"username": "renamed"}), 400,
                     mentions="username")
    for method in ("GET", "PATCH", "DELETE"):
        assert_api_error(root.request(method, f"admins/{MISSING}", json={"role": "viewer"}),
                         404)


def test_the_last_admin_cannot_be_deleted_or_demoted(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    env = make_appliance("last-admin")
    root = _root(env)
    root_id = env.admin_ids[ADMIN_USER]
    assert_api_error(root.delete(f"admins/{root_id}"), 409, mentions="last admin")
    assert_api_error(root.patch(f"admins/{root_id}", json={"role": "viewer"}), 409,
                     mentions="last admin")
    assert root.ok("GET", f"admins/{root_id}")["role"] == "admin"
    # the viewer does not count
    assert_api_error(root.delete(f"admins/{root_id}"), 409)

    second = root.ok("POST", "admins", 201, json={"username": "second",
                                                   "password": "second-password-1"})
    assert root.ok("PATCH", f"admins/{root_id}", json={"role": "viewer"})["role"] == "viewer"
    other = root.login("second", "second-password-1")
    assert_api_error(other.patch(f"admins/{second['id']}", json={"role": "viewer"}), 409)
    assert_api_error(other.delete(f"admins/{second['id']}"), 409)
    assert other.delete(f"admins/{root_id}").status_code == 204
    assert [a["username"] for a in other.ok("GET", "admins")["items"]
            if a["role"] == "admin"] == ["second"]


# --- settings ----------------------------------------------------------------------------------

OPTION_NAMES = {"log_retention_days", "cors_origins", "max_body_bytes",
                "provider_check_minutes", "backups_kept", "quota_reserve_tokens",
                "route_attempts", "route_time_budget_s", "cooldown_failures",
                "cooldown_window_s", "cooldown_s", "budget_webhook_url", "admin_allow"}


def _settings(client: AdminClient) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in client.ok("GET", "settings")["items"]}


def test_settings_list_change_and_reset(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    before = _settings(root)
    assert set(before) == OPTION_NAMES
    for item in before.values():
        assert set(item) >= {"name", "value", "default", "source", "description"}
        assert item["description"]
    assert before["log_retention_days"]["default"] == 90
    assert {name: before[name]["default"] for name in (
        "route_attempts", "route_time_budget_s", "cooldown_failures", "cooldown_window_s",
        "cooldown_s")} == {"route_attempts": 3, "route_time_budget_s": 120,
                           "cooldown_failures": 3, "cooldown_window_s": 60, "cooldown_s": 30}
    try:
        changed = root.ok("PATCH", "settings", json={
            "log_retention_days": 30, "provider_check_minutes": 10, "backups_kept": 3})
        after = {s["name"]: s for s in changed["items"]}
        assert after == _settings(root)
        for name, value in [("log_retention_days", 30), ("provider_check_minutes", 10),
                            ("backups_kept", 3)]:
            assert (after[name]["value"], after[name]["source"]) == (value, "admin")
            assert after[name]["default"] == before[name]["default"]
        assert after["max_body_bytes"] == before["max_body_bytes"]
        rows = root.audit_rows(action="settings.update")
        assert rows and rows[0]["changes"] == {"log_retention_days": 30,
                                               "provider_check_minutes": 10, "backups_kept": 3}
    finally:
        reset = root.ok("PATCH", "settings", json={"log_retention_days": None,
                                                   "provider_check_minutes": None,
                                                   "backups_kept": None})
    back = {s["name"]: s for s in reset["items"]}
    assert back["log_retention_days"]["value"] == 90
    assert back["log_retention_days"]["source"] == "default"


@pytest.mark.parametrize(("body", "name"), [
    ({"log_retention_days": 0}, "log_retention_days"),
    ({"log_retention_days": "30"}, "log_retention_days"),
    ({"log_retention_days": True}, "log_retention_days"),
    ({"log_retention_days": 1.5}, "log_retention_days"),
    ({"cors_origins": "https://app.example.com"}, "cors_origins"),
    ({"cors_origins": ["not an origin"]}, "cors_origins"),
    ({"cors_origins": ["https://app.example.com/path"]}, "cors_origins"),
    ({"max_body_bytes": 10}, "max_body_bytes"),
    ({"provider_check_minutes": 0}, "provider_check_minutes"),
    ({"backups_kept": -1}, "backups_kept"),
    ({"route_attempts": 11}, "route_attempts"),
    ({"route_time_budget_s": 0}, "route_time_budget_s"),
    ({"cooldown_failures": 101}, "cooldown_failures"),
    ({"cooldown_window_s": 3601}, "cooldown_window_s"),
    ({"cooldown_s": 86401}, "cooldown_s"),
    ({"colour": "blue"}, "colour"),
    ({"log_retention_days": 45, "max_body_bytes": 1}, "max_body_bytes"),
])
def test_bad_settings_are_400_naming_the_setting_and_change_nothing(
        admin_env: AdminAppliance, body: dict, name: str) -> None:
    root = _root(admin_env)
    before = _settings(root)
    assert_api_error(root.patch("settings", json=body), 400, mentions=name)
    assert _settings(root) == before


def test_max_body_bytes_applies_to_the_client_api_at_once(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    endpoint = root.create_endpoint(admin_env.provider_ids["echo"])
    token = root.create_token()["token"]
    big = "word " * 600  # ~3 KB of JSON
    assert chat(admin_env.url, token, endpoint["path"], big).status_code == 200
    try:
        root.ok("PATCH", "settings", json={"max_body_bytes": 2048})
        assert_api_error(chat(admin_env.url, token, endpoint["path"], big), 413)
        assert chat(admin_env.url, token, endpoint["path"], "small").status_code == 200
    finally:
        root.ok("PATCH", "settings", json={"max_body_bytes": None})
    assert chat(admin_env.url, token, endpoint["path"], big).status_code == 200


def test_cors_origins_apply_to_the_client_api_at_once(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    origin = "https://admin-tests.example.com"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "Authorization, Content-Type"}

    def allowed() -> str | None:
        response = requests.options(admin_env.url + "/api/chat", headers=preflight,
                                    timeout=HTTP_TIMEOUT)
        assert response.status_code in (200, 204)
        return response.headers.get("Access-Control-Allow-Origin")

    assert allowed() is None
    try:
        root.ok("PATCH", "settings", json={"cors_origins": [origin]})
        assert allowed() == origin
        endpoint = root.create_endpoint(admin_env.provider_ids["echo"])
        answer = chat(admin_env.url, root.create_token()["token"], endpoint["path"],
                      headers={"Origin": origin})
        assert answer.status_code == 200
        assert answer.headers.get("Access-Control-Allow-Origin") == origin
    finally:
        root.ok("PATCH", "settings", json={"cors_origins": None})
    assert allowed() is None


# --- the audit log -----------------------------------------------------------------------------


def test_every_change_is_audited_with_filters_and_a_cursor(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    provider = root.ok("POST", "providers", 201, json={"name": unique("aud"), "type": "echo"})
    root.ok("PATCH", f"providers/{provider['id']}", json={"timeout_s": 9})
    endpoint = root.create_endpoint(provider["id"])
    root.ok("PATCH", f"endpoints/{endpoint['id']}", json={"enabled": False})
    token = root.create_token()
    root.ok("POST", f"tokens/{token['id']}/revoke")
    root.delete(f"tokens/{token['id']}")
    root.delete(f"endpoints/{endpoint['id']}")
    root.delete(f"providers/{provider['id']}")

    def actions(target_type: str, target_id: int) -> list[str]:
        rows = root.audit_rows(target_type=target_type, target_id=target_id)
        return [r["action"] for r in rows]

    assert actions("provider", provider["id"]) == [
        "provider.delete", "provider.update", "provider.create"]
    assert actions("endpoint", endpoint["id"]) == [
        "endpoint.delete", "endpoint.update", "endpoint.create"]
    assert actions("token", token["id"]) == ["token.delete", "token.revoke", "token.create"]

    rows = root.audit_rows(actor=ADMIN_USER, target_type="provider",
                           target_id=provider["id"])
    for row in rows:
        assert set(row) >= {"id", "time", "actor", "source", "action", "target_type",
                            "target_id", "changes"}
        assert (row["actor"], row["source"]) == (ADMIN_USER, "127.0.0.1")
    created = rows[-1]
    assert created["changes"]["name"] == provider["name"]
    assert rows[1]["changes"] == {"timeout_s": 9.0}
    assert all(r["action"] == "token.create" for r in root.audit_rows(action="token.create"))
    assert root.ok("GET", "audit", params={"actor": unique("ghost")})["items"] == []

    # keyset pages: newest first, every row exactly once
    everything = root.audit_rows(actor=ADMIN_USER)
    walked, cursor = [], None
    while True:
        page = root.ok("GET", "audit", params={"actor": ADMIN_USER, "limit": 3,
                                                **({"cursor": cursor} if cursor else {})})
        assert len(page["items"]) <= 3
        walked += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [r["id"] for r in walked] == [r["id"] for r in everything]
    assert len({r["id"] for r in walked}) == len(walked) >= 9
    assert [r["id"] for r in walked] == sorted((r["id"] for r in walked), reverse=True)
    assert_api_error(root.get("audit", params={"cursor": "abc"}), 400, mentions="cursor")
    assert_api_error(root.get("audit", params={"limit": 0}), 400, mentions="limit")


def test_put_is_not_offered_patch_changes_part_of_a_resource(admin_env: AdminAppliance) -> None:
    """PUT would have to replace a whole resource, write-only keys included; the API offers
    PATCH (partial) instead, and says so: 405 with Allow."""
    root = _root(admin_env)
    pid = admin_env.provider_ids["echo"]
    for path in (f"providers/{pid}", f"endpoints/{MISSING}", f"tokens/{MISSING}",
                 f"admins/{admin_env.admin_ids['viewer']}", "settings"):
        answer = root.put(path, json={"enabled": False})
        assert_api_error(answer, 405)
        assert "PATCH" in answer.headers["Allow"] and "PUT" not in answer.headers["Allow"]
    assert root.ok("GET", f"providers/{pid}")["enabled"] is True  # nothing changed


def test_endpoint_aliases_reach_the_endpoint_and_clash_with_409(
        admin_env: AdminAppliance) -> None:
    """An agent's own model name (an alias) reaches the endpoint through the client API; a
    name or alias another endpoint has is a 409 naming it; the audit log has the change."""
    root = _root(admin_env)
    echo = admin_env.provider_ids["echo"]
    alias = unique("claude-sonnet-4-5") + ":free"
    created = root.create_endpoint(echo, aliases=[alias, "openai/" + alias])
    assert created["aliases"] == [alias, "openai/" + alias]
    assert root.ok("GET", f"endpoints/{created['id']}")["aliases"] == created["aliases"]
    token = root.create_token()["token"]
    answer = requests.post(admin_env.url + "/v1/chat/completions", timeout=HTTP_TIMEOUT,
                           headers={"Authorization": f"Bearer {token}"},
                           json={"model": alias, "messages": [{"role": "user", "content": "x"}]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "echo: x"
    row = next(r for r in root.wait_for_log_rows(1, request_id=answer.headers["X-Request-ID"]))
    assert row["endpoint_id"] == created["id"]

    other = root.create_endpoint(echo)
    clash = root.patch(f"endpoints/{other['id']}", json={"aliases": [alias.upper()]})
    error = assert_api_error(clash, 409, mentions=alias)
    assert created["name"] in error["message"] and error["param"] == "aliases"
    taken = assert_api_error(root.post("endpoints", json={
        "name": alias, "path": f"/api/{unique('p')}", "kind": "chat", "model": "m",
        "provider_id": echo}), 409, mentions="already an alias")
    assert taken["param"] == "name"
    refused = assert_api_error(root.patch(f"endpoints/{other['id']}", json={"aliases": "x"}),
                               400, mentions="list of model names")
    assert refused["param"] == "aliases"

    root.ok("PATCH", f"endpoints/{created['id']}", json={"aliases": []})
    gone = requests.post(admin_env.url + "/v1/chat/completions", timeout=HTTP_TIMEOUT,
                         headers={"Authorization": f"Bearer {token}"},
                         json={"model": alias, "messages": [{"role": "user", "content": "x"}]})
    assert_api_error(gone, 404, "model_not_found")
    audited = root.audit_rows(action="endpoint.update", target_id=created["id"])
    assert audited[0]["changes"] == {"aliases": []}
