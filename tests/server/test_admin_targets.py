"""Targets, budgets and prices through the admin API of a live server: each bad input is a
400 naming its field with nothing changed (read back), the target sub-routes, the old
one-provider endpoint API, a reordering taking effect on the very next client request, the
shipped price table, and a provider a fallback uses kept from deletion."""

from __future__ import annotations

from typing import Any

import pytest

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.server.admin_fixtures import (  # noqa: E402
    AdminAppliance,
    AdminClient,
    assert_api_error,
    chat,
    unique,
)

pytest_plugins = ["tests.server.admin_fixtures"]

TARGET_FIELDS = {"id", "endpoint_id", "provider_id", "provider", "model", "priority", "weight",
                 "enabled", "price_input_per_m", "price_cached_input_per_m",
                 "price_output_per_m", "price", "health"}


def _root(env: AdminAppliance) -> AdminClient:
    assert env.admin is not None
    return env.admin


def _two_target_endpoint(env: AdminAppliance) -> dict[str, Any]:
    name = unique("route")
    return _root(env).ok("POST", "endpoints", 201, json={
        "name": name, "path": f"/api/{name}", "kind": "chat", "monthly_budget": 12.5,
        "targets": [{"provider_id": env.provider_ids["fake"], "model": "fake-model"},
                    {"provider": "echo", "model": "echo-model", "weight": 2}]})


def test_an_endpoint_with_targets_and_its_sub_routes(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    endpoint = _two_target_endpoint(admin_env)
    eid = endpoint["id"]
    assert endpoint["monthly_budget"] == 12.5
    assert [set(t) for t in endpoint["targets"]] == [TARGET_FIELDS, TARGET_FIELDS]
    assert [(t["provider"], t["model"], t["priority"], t["weight"])
            for t in endpoint["targets"]] == [("fake", "fake-model", 0, 1),
                                              ("echo", "echo-model", 1, 2)]
    assert (endpoint["provider_id"], endpoint["model"]) == (admin_env.provider_ids["fake"],
                                                            "fake-model")
    added = root.ok("POST", f"endpoints/{eid}/targets", 201, json={
        "provider": "echo", "model": "echo-late", "price_input_per_m": 1,
        "price_output_per_m": 4})
    assert added["priority"] == 2  # a fallback after the rest
    assert added["price"] == {"input": 1.0, "cached_input": 1.0, "output": 4.0,
                              "source": "target"}
    changed = root.ok("PATCH", f"endpoints/{eid}/targets/{added['id']}", json={"weight": 7})
    assert changed["weight"] == 7
    listed = root.ok("GET", f"endpoints/{eid}/targets")["items"]
    assert [t["model"] for t in listed] == ["fake-model", "echo-model", "echo-late"]
    assert root.ok("DELETE", f"endpoints/{eid}/targets/{added['id']}", 204) is None
    assert len(root.ok("GET", f"endpoints/{eid}/targets")["items"]) == 2
    assert_api_error(root.delete(f"endpoints/{eid}/targets/{added['id']}"), 404)
    actions = [a["action"] for a in root.audit_rows(target_type="endpoint", target_id=eid)]
    assert {"endpoint.target_add", "endpoint.target_update",
            "endpoint.target_remove"} <= set(actions)


def test_reordering_targets_reaches_the_next_request(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    fake = admin_env.fake
    assert fake is not None
    endpoint = _two_target_endpoint(admin_env)
    eid, path = endpoint["id"], endpoint["path"]
    token = root.create_token()["token"]
    def chats() -> int:  # (the provider checks call the fake's model list as well)
        return sum(r.path.endswith("/chat/completions") for r in fake.requests)

    before = chats()
    assert chat(admin_env.url, token, path).status_code == 200
    assert chats() == before + 1  # the fake upstream is first
    echo_target = endpoint["targets"][1]["id"]
    root.ok("PATCH", f"endpoints/{eid}/targets/{echo_target}", json={"priority": -1})
    answer = chat(admin_env.url, token, path)
    assert answer.status_code == 200 and chats() == before + 1  # echo answered
    shown = root.ok("GET", f"endpoints/{eid}")
    assert (shown["provider_id"], shown["model"]) == (admin_env.provider_ids["echo"],
                                                      "echo-model")


BAD_ENDPOINT_INPUT = [
    ({"targets": [{"provider": "ghost-provider", "model": "m"}]}, "targets[0].provider"),
    ({"targets": [{"provider": "echo", "model": "m"},
                  {"provider": "echo", "model": "n", "weight": 0}]}, "targets[1].weight"),
    ({"targets": [{"provider": "echo", "model": "m", "weight": -2}]}, "targets[0].weight"),
    ({"targets": [{"provider": "echo", "model": "m", "price_input_per_m": "lots"}]},
     "targets[0].price_input_per_m"),
    ({"targets": [{"provider": "echo", "model": "m", "price_output_per_m": -1}]},
     "targets[0].price_output_per_m"),
    ({"targets": []}, "targets"),
    ({"monthly_budget": -1}, "monthly_budget"),
    ({"monthly_budget": "lots"}, "monthly_budget"),
    ({"model": "m", "targets": [{"provider": "echo", "model": "m"}]}, "model"),
]


@pytest.mark.parametrize(("change", "field"), BAD_ENDPOINT_INPUT)
def test_bad_endpoint_input_names_the_field_and_changes_nothing(
        admin_env: AdminAppliance, change: dict[str, Any], field: str) -> None:
    root = _root(admin_env)
    endpoint = _two_target_endpoint(admin_env)
    error = assert_api_error(root.patch(f"endpoints/{endpoint['id']}",
                                        json={"name": unique("renamed"), **change}), 400)
    assert error["param"] == field, error
    assert field.split(".")[-1].split("[")[0] in error["message"], error
    assert root.ok("GET", f"endpoints/{endpoint['id']}") == endpoint
    name = unique("new")
    created = root.post("endpoints", json={"name": name, "path": f"/api/{name}",
                                           "kind": "chat", "targets": [
                                               {"provider": "echo", "model": "m"}], **change})
    assert assert_api_error(created, 400)["param"] == field
    assert name not in [e["name"] for e in root.ok("GET", "endpoints")["items"]]


BAD_TARGET_INPUT = [
    ({"provider": "ghost-provider", "model": "m"}, "provider"),
    ({"provider": "echo", "model": "m", "weight": 0}, "weight"),
    ({"provider": "echo", "model": "m", "weight": "heavy"}, "weight"),
    ({"provider": "echo", "model": "m", "priority": 5000}, "priority"),
    ({"provider": "echo", "model": "m", "price_cached_input_per_m": "lots"},
     "price_cached_input_per_m"),
    ({"provider": "echo", "model": "m", "health": {}}, "health"),
]


@pytest.mark.parametrize(("body", "field"), BAD_TARGET_INPUT)
def test_bad_target_input_names_the_field_and_changes_nothing(
        admin_env: AdminAppliance, body: dict[str, Any], field: str) -> None:
    root = _root(admin_env)
    endpoint = _two_target_endpoint(admin_env)
    eid, first = endpoint["id"], endpoint["targets"][0]["id"]
    assert assert_api_error(root.post(f"endpoints/{eid}/targets", json=body), 400)[
        "param"] == field
    patch = {k: val for k, val in body.items() if k != "provider" or field == "provider"}
    assert assert_api_error(root.patch(f"endpoints/{eid}/targets/{first}", json=patch), 400)[
        "param"] == field
    assert root.ok("GET", f"endpoints/{eid}") == endpoint


def test_the_last_enabled_target_stays(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    endpoint = root.create_endpoint(admin_env.provider_ids["echo"])
    only = endpoint["targets"][0]["id"]
    assert_api_error(root.delete(f"endpoints/{endpoint['id']}/targets/{only}"), 409,
                     mentions="only enabled one")
    assert_api_error(root.patch(f"endpoints/{endpoint['id']}/targets/{only}",
                                json={"enabled": False}), 409)
    assert root.ok("GET", f"endpoints/{endpoint['id']}") == endpoint


def test_the_one_provider_api_still_works(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    echo, fake = admin_env.provider_ids["echo"], admin_env.provider_ids["fake"]
    endpoint = root.create_endpoint(echo, model="echo-model", price_input_per_m=2,
                                    price_output_per_m=6)
    assert [(t["provider_id"], t["model"], t["price"]["source"])
            for t in endpoint["targets"]] == [(echo, "echo-model", "target")]
    changed = root.ok("PATCH", f"endpoints/{endpoint['id']}", json={
        "provider_id": fake, "model": "fake-model"})
    assert (changed["provider_id"], changed["model"]) == (fake, "fake-model")
    assert [(t["provider_id"], t["model"]) for t in changed["targets"]] == [
        (fake, "fake-model")]
    assert (changed["price_input_per_m"], changed["price_output_per_m"]) == (2.0, 6.0)
    token = root.create_token()["token"]
    assert chat(admin_env.url, token, endpoint["path"]).status_code == 200


def test_token_budgets_and_list_spend(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    token = root.create_token(monthly_budget=5)
    assert token["monthly_budget"] == 5.0
    error = assert_api_error(root.patch(f"tokens/{token['id']}",
                                        json={"monthly_budget": -0.5}), 400)
    assert error["param"] == "monthly_budget"
    listed = next(t for t in root.ok("GET", "tokens")["items"] if t["id"] == token["id"])
    assert (listed["monthly_budget"], listed["spent_this_month"]) == (5.0, 0.0)
    root.ok("PATCH", f"tokens/{token['id']}", json={"monthly_budget": None})
    assert root.ok("GET", f"tokens/{token['id']}")["monthly_budget"] is None


def test_the_price_table(admin_env: AdminAppliance) -> None:
    table = _root(admin_env).ok("GET", "prices")
    assert table["currency"] == "USD" and table["unit"] == "per million tokens"
    gpt = table["types"]["openai"]["gpt-4o"]
    assert gpt["input"] > 0 and gpt["output"] > gpt["input"]


def test_a_provider_a_fallback_uses_is_kept(admin_env: AdminAppliance) -> None:
    root = _root(admin_env)
    spare = root.ok("POST", "providers", 201, json={"name": unique("spare"), "type": "echo"})
    endpoint = root.create_endpoint(admin_env.provider_ids["echo"])
    root.ok("POST", f"endpoints/{endpoint['id']}/targets", 201,
            json={"provider_id": spare["id"], "model": "echo-model"})
    assert_api_error(root.delete(f"providers/{spare['id']}"), 409, mentions=endpoint["name"])
    shown = root.ok("GET", f"providers/{spare['id']}")
    assert [(u["endpoint"], u["model"]) for u in shown["targets_health"]] == [
        (endpoint["name"], "echo-model")]
