"""GET /admin/api/openapi.json describes the whole HTTP API: every route of the app is in it
with its methods and every documented operation is a route; then a bounded schemathesis run
against a live server (valid admin session and client token) finds no 5xx answer."""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from app.settings import load_settings
from server.client_api import routes as client_routes
from server.factory import create_app

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.fakes.upstream import FakeUpstream  # noqa: E402
from tests.live import free_port  # noqa: E402
from tests.server.admin_fixtures import (  # noqa: E402
    API,
    HTTP_TIMEOUT,
    AdminAppliance,
    assert_api_error,
    chat,
)

pytest_plugins = ["tests.server.admin_fixtures"]

HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}
PUBLIC = {("/admin/api/login", "post"), ("/admin/api/setup", "get"),
          ("/admin/api/setup", "post"), ("/admin/api/openapi.json", "get")}


def _app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(path, method) of every route of an app built in-process, `<int:x>` as `{x}`."""
    settings = load_settings({"data_dir": str(tmp_path / "inproc"), "bcrypt_rounds": 4},
                             environ={}, env_file=None)
    app = create_app(settings)
    try:
        routes = set()
        rules = [*app.url_map.iter_rules(), *client_routes.url_map.iter_rules()]
        for rule in rules:
            if rule.endpoint == "static":
                continue
            path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
        return routes
    finally:
        app.extensions["modelproxy"].close()


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


def test_every_route_is_documented_and_every_documented_operation_is_a_route(
        admin_env: AdminAppliance, tmp_path: Path) -> None:
    response = requests.get(f"{admin_env.url}{API}/openapi.json", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith(
        "application/json")
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] and document["info"]["version"]

    routes = _app_routes(tmp_path)
    documented = _documented(document)
    assert len(routes) > 40
    assert routes - documented == set(), "routes missing from openapi.json"
    assert documented - routes == set(), "documented operations that are no route"

    for path, method in documented:
        operation = document["paths"][path][method]
        assert operation.get("responses"), (path, method)
        params = [p["name"] for p in operation.get("parameters", []) +
                  document["paths"][path].get("parameters", []) if p["in"] == "path"]
        assert sorted(params) == sorted(re.findall(r"{([^}]+)}", path)), (path, method)


def test_documented_security_matches_what_the_server_asks(admin_env: AdminAppliance) -> None:
    """Admin operations documented without security answer without a session; the others
    are 401 without one."""
    document = requests.get(f"{admin_env.url}{API}/openapi.json", timeout=HTTP_TIMEOUT).json()
    for path, method in sorted(_documented(document)):
        if not path.startswith(API):
            continue
        security = document["paths"][path][method].get("security")
        public = security == []
        assert public == ((path, method) in PUBLIC), (path, method, security)
        url = admin_env.url + re.sub(r"{[^}]+}", "1", path)
        answer = requests.request(method, url, json={}, timeout=HTTP_TIMEOUT)
        if public:
            assert answer.status_code != 401, (path, method, answer.text)
        else:
            assert answer.status_code == 401, (path, method, answer.status_code)
            assert answer.json()["error"]["code"] == "invalid_session"


# --- the schemathesis run -------------------------------------------------------------------

POSITIVE_EXAMPLES = 12
NEGATIVE_EXAMPLES = 6
SEED = 20261129
FEW = {("/admin/api/login", "POST"): 3}  # failed logins get slower (and then lock)
SKIP = {("/admin/api/logout", "POST")}  # would end the session the run uses
# Provider writes get only valid bodies, with base URLs on loopback: a generated provider
# must not send the proxy out to the internet.
POSITIVE_ONLY = {("/admin/api/providers", "POST"), ("/admin/api/providers/{provider_id}", "PATCH")}
NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9 ._-]{0,20}$"}
# What the document promises of every answer, and that invalid input is refused. (Not
# "valid input is accepted": some rules are no JSON Schema — `to` after `from`, a password's
# 72 bytes, a reference to an endpoint deleted meanwhile.)
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance,
               negative_data_rejection]


def _fuzz_document(document: dict[str, Any], base_urls: list[str],
                   endpoint_ids: list[int], provider_ids: list[int]) -> dict[str, Any]:
    """The document with inputs steered where the server does more than refuse them:
    names the server accepts, existing ids, and provider base URLs on loopback only."""
    fuzz = copy.deepcopy(document)
    schemas = fuzz["components"]["schemas"]
    for name in ("ProviderInput", "ProviderUpdate"):
        if name not in schemas:
            continue
        provider = schemas[name]["properties"]
        provider["base_url"] = {"type": "string", "enum": base_urls}
        provider["headers"] = {
            "type": "object", "maxProperties": 2, "additionalProperties": False,
            "patternProperties": {"^X-[A-Za-z]{1,8}$": {"type": "string",
                                                        "pattern": "^[a-z0-9]{0,10}$"}}}
    schemas["ProviderInput"]["required"] = sorted(
        set(schemas["ProviderInput"]["required"]) | {"base_url"})
    updates = [name for name in ("ProviderUpdate", "EndpointUpdate", "TokenUpdate")
               if name in schemas]
    for name in ("ProviderInput", "EndpointInput", "TokenInput", *updates):
        schemas[name]["properties"]["name"] = NAME
    schemas["AdminInput"]["properties"]["username"] = NAME
    for name in ("EndpointInput", *(n for n in updates if n.startswith("Endpoint"))):
        endpoint = schemas[name]["properties"]
        endpoint["path"] = {"type": "string", "pattern": "^/api/[a-z0-9]{1,12}$"}
        endpoint["provider_id"] = {"type": "integer", "enum": provider_ids}
    for name in ("TargetInput", "TargetUpdate"):  # existing providers, by id
        if name in schemas:
            target = schemas[name]["properties"]
            target["provider_id"] = {"type": "integer", "enum": provider_ids}
            target["provider"] = {"type": "integer", "enum": provider_ids}
    for name in ("TokenInput", *(n for n in updates if n.startswith("Token"))):
        token = schemas[name]["properties"]
        token["allowed_ips"] = {"type": "array", "maxItems": 2, "items": {
            "type": "string", "enum": ["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"]}}
        token["allowed_endpoints"] = {"type": "array", "maxItems": 2,
                                      "items": {"type": "integer", "enum": endpoint_ids}}
    return fuzz


def _order(path: str, method: str) -> tuple[int, str, str]:
    """The client API first (while its endpoints and token are intact), admins last (the
    run may demote or delete the admin it is logged in as)."""
    rank = 0 if not path.startswith(API) else 2 if path.startswith(f"{API}/admins") else 1
    return rank, path, method


def test_schemathesis_finds_no_server_errors(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    with FakeUpstream() as fake:
        env = make_appliance("fuzz", fake=fake)
        root = env.admin
        assert root is not None
        echo = env.provider_ids["echo"]
        endpoint_ids = [
            root.create_endpoint(echo, name="chat", path="/api/chat")["id"],
            root.create_endpoint(echo, name="embeddings", path="/api/embeddings",
                                 kind="embeddings", model="echo-embedding")["id"]]
        client_token = root.create_token(name="fuzz")["token"]
        assert chat(env.url, client_token).status_code == 200
        document = root.ok("GET", "openapi.json")
        schema = schemathesis.openapi.from_dict(_fuzz_document(
            document, [fake.base_url, f"http://127.0.0.1:{free_port()}/v1"], endpoint_ids,
            sorted(env.provider_ids.values())))
        session_headers = {"Authorization": f"Bearer {root.token}"}
        client_headers = {"Authorization": f"Bearer {client_token}"}

        operations = [result.ok() for result in schema.get_all_operations()]
        operations.sort(key=lambda op: _order(op.path, op.method.upper()))
        assert len(operations) >= 40
        failures: dict[tuple[str, str, str], list[str]] = {}
        nonconforming: dict[tuple[str, str, str], list[str]] = {}
        statuses: list[int] = []

        def run(operation: Any, mode: GenerationMode, examples: int) -> None:
            headers = (session_headers if operation.path.startswith(API)
                       else {} if operation.path == "/metrics" else client_headers)

            @seed(SEED)
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])
            def check(case: Any) -> None:
                response = case.call(base_url=env.url, headers=headers, timeout=HTTP_TIMEOUT)
                statuses.append(response.status_code)
                curl = case.as_curl_command(headers=headers, base_url=env.url)
                if response.status_code >= 500:
                    key = (operation.method.upper(), operation.path, str(response.status_code))
                    failures.setdefault(key, []).append(
                        f"{mode.value}: {curl}\n      -> {response.content[:160]!r}")
                try:
                    case.validate_response(response, checks=CONFORMANCE, headers=headers)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        key = (operation.method.upper(), operation.path, failure.title)
                        nonconforming.setdefault(key, []).append(
                            f"{mode.value}: {curl}\n      -> {response.status_code} "
                            f"{response.content[:160]!r}")

            check()

        for operation in operations:
            key = (operation.path, operation.method.upper())
            if key in SKIP:
                continue
            run(operation, GenerationMode.POSITIVE, FEW.get(key, POSITIVE_EXAMPLES))
            if key not in POSITIVE_ONLY and key not in FEW:
                # (Unsatisfiable: nothing invalid can be made for this operation)
                with contextlib.suppress(Unsatisfiable):
                    run(operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)

    assert len(statuses) >= 300
    ok = sum(200 <= s < 300 for s in statuses)
    assert ok >= 100 and statuses.count(401) < len(statuses) // 5, (
        "the run must mostly get past authentication", ok, statuses.count(401))
    assert not failures, f"{len(failures)} operations answered 5xx:\n" + _report(failures)
    assert not nonconforming, (f"{len(nonconforming)} answers do not conform to openapi.json:\n"
                               + _report(nonconforming))


def _report(found: dict[tuple[str, str, str], list[str]]) -> str:
    return "\n".join(f"{method} {path} -> {what} ({len(cases)}x), e.g.\n    {cases[0]}"
                     for (method, path, what), cases in sorted(found.items()))


def test_the_document_says_what_the_server_refuses(admin_env: AdminAppliance) -> None:
    """Found by schemathesis's conformance checks: bodies with unknown fields, partial
    updates, PUT (not offered), and empty typed query arguments."""
    root = admin_env.admin
    assert root is not None
    document = root.ok("GET", "openapi.json")
    schemas = document["components"]["schemas"]
    bodies = [name for name in schemas if name.endswith(("Input", "Update"))]
    assert len(bodies) >= 9
    assert all(schemas[name]["additionalProperties"] is False for name in bodies)
    assert all("required" not in schemas[name] for name in bodies if name.endswith("Update"))
    assert not [path for path, item in document["paths"].items() if "put" in item]
    for path in ("logs?to=", "logs?status=", "logs?cursor=", "logs/export.csv?from=",
                 "audit?from=", "logs?cursor=not-one"):
        assert_api_error(root.get(path), 400)
    page = root.ok("GET", "logs", params={"limit": 1})
    if page["next_cursor"]:
        assert root.get("logs", params={"cursor": page["next_cursor"]}).status_code == 200
