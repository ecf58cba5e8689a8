"""The admin allow-list offered at first-run setup: the start-up warning, storing a list with
the first admin, the refusal from other addresses, never locking out the admin who saves
it, and MODELPROXY_ADMIN_ALLOW winning over a stored list. Other addresses are simulated
with X-Forwarded-For from loopback, a trusted proxy here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

pytest.register_assert_rewrite("tests.server.admin_fixtures")
pytest_plugins = ["tests.server.admin_fixtures"]

from tests.server.admin_fixtures import (  # noqa: E402
    API,
    HTTP_TIMEOUT,
    AdminAppliance,
    AdminClient,
    assert_api_error,
    wait_until,
)

ADMIN_PC, OTHER_PC = "10.1.2.3", "10.5.5.5"
PASSWORD = "first-pass-123"


def from_(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def setup_code(env: AdminAppliance) -> str:
    code_file = env.data_dir / "setup-code"
    assert wait_until(code_file.is_file, 5), "no setup-code file after start"
    return code_file.read_text().strip()


def post_setup(env: AdminAppliance, address: str, **body: object) -> requests.Response:
    return requests.post(f"{env.url}{API}/setup", headers=from_(address), timeout=HTTP_TIMEOUT,
                         json={"username": "first", "password": PASSWORD,
                               "code": setup_code(env), **body})


def get(env: AdminAppliance, path: str, address: str) -> requests.Response:
    return requests.get(f"{env.url}{path}", headers=from_(address), timeout=HTTP_TIMEOUT)


def log_in(env: AdminAppliance, address: str) -> AdminClient:
    response = requests.post(f"{env.url}{API}/login", headers=from_(address),
                             json={"username": "first", "password": PASSWORD},
                             timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    client = AdminClient(env.url, response.json()["token"])
    client.http.headers.update(from_(address))
    return client


def setting(client: AdminClient, name: str) -> dict:
    return next(row for row in client.ok("GET", "settings")["items"] if row["name"] == name)


def test_first_run_setup_restricts_the_admin_api_to_the_admins_address(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    env = make_appliance("restrict", seed_admins=False, MODELPROXY_TRUSTED_PROXIES="127.0.0.1")
    # the start-up warning says the admin API is open, and how to close it
    assert wait_until(lambda: "the admin API answers any address" in env.appliance.live.output,
                      5), env.appliance.live.output
    assert "MODELPROXY_ADMIN_ALLOW" in env.appliance.live.output
    assert '"admin_allow"' in env.appliance.live.output

    status = get(env, f"{API}/setup", ADMIN_PC).json()
    assert status == {"needed": True, "address": ADMIN_PC, "admin_allow": [],
                      "admin_allow_source": "none"}
    # a list that leaves out the admin's own address, or is no list of addresses, is refused,
    # and nothing is done: setup is still needed
    shut_out = assert_api_error(post_setup(env, ADMIN_PC, admin_allow=["10.9.9.0/24"]), 400,
                                mentions=f"would shut you out: your address {ADMIN_PC}")
    assert shut_out["param"] == "admin_allow"
    bad = assert_api_error(post_setup(env, ADMIN_PC, admin_allow=["10.1.2.300"]), 400,
                           mentions="'10.1.2.300', which is not an IP address or CIDR")
    assert bad["param"] == "admin_allow"
    assert_api_error(post_setup(env, ADMIN_PC, admin_allow="10.1.2.3"), 400,
                     mentions="must be a list")
    assert get(env, f"{API}/setup", ADMIN_PC).json()["needed"] is True

    created = post_setup(env, ADMIN_PC, admin_allow=["10.1.2.0/24"])
    assert created.status_code == 201, created.text
    # at once: other addresses are refused, even the login and the setup status ...
    for path in [f"{API}/setup", f"{API}/me", f"{API}/openapi.json", "/metrics"]:
        assert_api_error(get(env, path, OTHER_PC), 403, "ip_not_allowed")
    login = requests.post(f"{env.url}{API}/login", headers=from_(OTHER_PC), timeout=HTTP_TIMEOUT,
                          json={"username": "first", "password": PASSWORD})
    assert_api_error(login, 403, "ip_not_allowed",
                     mentions=f"not open to this address ({OTHER_PC})")  # what to add
    # ... the client API is not, and the admin's machine gets in (metrics too)
    assert get(env, "/api/health", OTHER_PC).status_code == 200
    assert get(env, "/metrics", ADMIN_PC).status_code == 200
    admin = log_in(env, ADMIN_PC)
    row = setting(admin, "admin_allow")
    assert row["value"] == ["10.1.2.0/24"] and row["source"] == "admin"
    audit = admin.ok("GET", "audit")["items"]
    assert any(e["action"] == "settings.update" and e["actor"] == "setup" for e in audit), audit

    # the admin cannot lock themselves out later either; a list holding them is saved
    refused = admin.patch("settings", json={"admin_allow": ["10.9.9.9"]})
    assert_api_error(refused, 400, mentions=f"your address {ADMIN_PC} is not in it")
    assert setting(admin, "admin_allow")["value"] == ["10.1.2.0/24"]
    assert admin.patch("settings", json={"admin_allow": ["10.1.2.3", OTHER_PC]}).ok
    assert get(env, f"{API}/setup", OTHER_PC).json() == {"needed": False}
    # null: back to no list, the admin API open to any address again
    assert admin.patch("settings", json={"admin_allow": None}).ok
    assert get(env, f"{API}/setup", "10.77.0.1").json() == {"needed": False}


def test_setup_without_a_list_leaves_the_admin_api_open(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    env = make_appliance("open", seed_admins=False, MODELPROXY_TRUSTED_PROXIES="127.0.0.1")
    assert post_setup(env, ADMIN_PC).status_code == 201
    assert get(env, f"{API}/setup", OTHER_PC).json() == {"needed": False}
    assert setting(log_in(env, OTHER_PC), "admin_allow")["source"] == "default"


def test_the_environments_list_wins_over_a_stored_one(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    env = make_appliance("env-wins", seed_admins=False, MODELPROXY_TRUSTED_PROXIES="127.0.0.1",
                         MODELPROXY_ADMIN_ALLOW=f"{ADMIN_PC} 127.0.0.1")
    assert get(env, f"{API}/setup", ADMIN_PC).json() == {
        "needed": True, "address": ADMIN_PC, "admin_allow": [ADMIN_PC, "127.0.0.1"],
        "admin_allow_source": "environment"}
    refused = post_setup(env, ADMIN_PC, admin_allow=[ADMIN_PC])
    error = assert_api_error(refused, 409, mentions="set by MODELPROXY_ADMIN_ALLOW in the "
                                                    "server's environment, which wins")
    assert error["param"] == "admin_allow"
    assert post_setup(env, ADMIN_PC).status_code == 201
    admin = log_in(env, ADMIN_PC)
    row = setting(admin, "admin_allow")
    assert row["value"] == [ADMIN_PC, "127.0.0.1"] and row["source"] == "environment"
    assert_api_error(admin.patch("settings", json={"admin_allow": []}), 409,
                     mentions="MODELPROXY_ADMIN_ALLOW")
    assert_api_error(get(env, f"{API}/setup", OTHER_PC), 403, "ip_not_allowed")
    # a list is in force: no warning that the admin API is open
    env.appliance.stop()
    assert "the admin API answers any address" not in env.appliance.live.output
