"""Targets through the admin API of an app built in-process, where its catalog and gateway
can be looked at: every target change reaches the catalog's EndpointRecord.targets at once,
each target shows the router's health (when the gateway has one), and the token and
endpoint lists show the money spent this month from the rollups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.models import UsageDaily
from app.services import admins
from app.services.audit import Actor
from app.settings import load_settings
from server.factory import create_app

ACTOR = Actor("tests", "127.0.0.1")
API = "/admin/api"


class Admin:
    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, where: str, status: int, /, **body: Any) -> Any:
        response = self.client.open(f"{API}/{where}", method=method, headers=self.headers,
                                    json=body if method in {"POST", "PATCH"} else None)
        assert response.status_code == status, (method, where, response.get_data(as_text=True))
        return response.get_json()


@pytest.fixture
def app_state(tmp_path: Path) -> Iterator[tuple[Admin, Any]]:
    settings = load_settings({"data_dir": str(tmp_path), "bcrypt_rounds": 4}, environ={},
                             env_file=None)
    app = create_app(settings)
    state = app.extensions["modelproxy"]
    try:
        with state.db.connection_context():
            admins.create(ACTOR, "root", "root-password-1234", "admin", rounds=4)
        client = app.test_client()
        login = client.post(f"{API}/login", json={"username": "root",
                                                   "password": "root-password-1234"})
        assert login.status_code == 200, login.get_data(as_text=True)
        yield Admin(client, login.get_json()["token"]), state
    finally:
        state.close()


def _route(state: Any, path: str) -> list[tuple[int, str, int]]:
    record = state.catalog.endpoints_by_path[path]
    return [(t.provider_id, t.model, t.priority) for t in record.targets]


def test_target_changes_reach_the_catalog_at_once(app_state) -> None:
    admin, state = app_state
    one = admin.call("POST", "providers", 201, name="one", type="echo")["id"]
    two = admin.call("POST", "providers", 201, name="two", type="echo")["id"]
    endpoint = admin.call("POST", "endpoints", 201, name="chat", path="/api/chat", kind="chat",
                          model="m1", provider_id=one)
    assert _route(state, "/api/chat") == [(one, "m1", 0)]

    added = admin.call("POST", f"endpoints/{endpoint['id']}/targets", 201, provider="two",
                       model="m2")
    assert _route(state, "/api/chat") == [(one, "m1", 0), (two, "m2", 1)]

    admin.call("PATCH", f"endpoints/{endpoint['id']}/targets/{added['id']}", 200, priority=-1)
    assert _route(state, "/api/chat") == [(two, "m2", -1), (one, "m1", 0)]
    record = state.catalog.endpoints_by_path["/api/chat"]
    assert (record.provider_id, record.model) == (two, "m2")  # the first target's

    admin.call("PATCH", f"endpoints/{endpoint['id']}/targets/{added['id']}", 200,
               enabled=False)
    assert _route(state, "/api/chat") == [(one, "m1", 0)]  # the catalog holds enabled ones

    first = endpoint["targets"][0]["id"]
    error = admin.call("DELETE", f"endpoints/{endpoint['id']}/targets/{first}", 409)
    assert "only enabled one" in error["error"]["message"]
    admin.call("DELETE", f"endpoints/{endpoint['id']}/targets/{added['id']}", 204)
    assert _route(state, "/api/chat") == [(one, "m1", 0)]

    admin.call("PATCH", f"endpoints/{endpoint['id']}", 200, targets=[
        {"provider": "one", "model": "m3", "weight": 4}, {"provider_id": two, "model": "m2"}])
    assert _route(state, "/api/chat") == [(one, "m3", 0), (two, "m2", 1)]
    record = state.catalog.endpoints_by_path["/api/chat"]
    assert [t.weight for t in record.targets] == [4, 1]


def test_targets_show_the_routers_health(app_state) -> None:
    admin, state = app_state
    provider = admin.call("POST", "providers", 201, name="one", type="echo")["id"]
    endpoint = admin.call("POST", "endpoints", 201, name="chat", path="/api/chat", kind="chat",
                          targets=[{"provider_id": provider, "model": "a"},
                                   {"provider_id": provider, "model": "b"}])
    assert [t["health"]["state"] for t in endpoint["targets"]] == ["healthy", "healthy"]
    router = state.gateway.router  # the one the server's requests report to
    for _ in range(router.options.cooldown_failures):
        router.failed(endpoint["targets"][1]["id"], 503, "upstream said 503")
    shown = admin.call("GET", f"endpoints/{endpoint['id']}", 200)
    assert [t["health"]["state"] for t in shown["targets"]] == ["healthy", "cooling"]
    listed = admin.call("GET", f"endpoints/{endpoint['id']}/targets", 200)["items"]
    health = listed[1]["health"]
    assert {k: health[k] for k in ("state", "last_error", "last_status")} == {
        "state": "cooling", "last_error": "upstream said 503", "last_status": 503}
    assert 0 < health["cooling_for_s"] <= router.options.cooldown_s
    using = admin.call("GET", f"providers/{provider}", 200)["targets_health"]
    assert [(u["endpoint"], u["model"], u["health"]["state"]) for u in using] == [
        ("chat", "a", "healthy"), ("chat", "b", "cooling")]
    listed_using = admin.call("GET", "providers", 200)["items"][0]["targets_health"]
    assert [(u["target_id"], u["health"]["state"]) for u in listed_using] == [
        (u["target_id"], u["health"]["state"]) for u in using]


def test_lists_show_this_months_spend(app_state) -> None:
    admin, state = app_state
    provider = admin.call("POST", "providers", 201, name="one", type="echo")["id"]
    endpoint = admin.call("POST", "endpoints", 201, name="chat", path="/api/chat", kind="chat",
                          model="m", provider_id=provider, monthly_budget=10)
    token = admin.call("POST", "tokens", 201, name="ci", monthly_budget="2.5")
    today = dt.datetime.now(dt.UTC).date()
    last_month = today.replace(day=1) - dt.timedelta(days=1)
    with state.db.connection_context():
        for day, nanos, model in ((today, 1_250_000_000, "m"), (today, 250_000_000, "n"),
                                  (last_month, 9_000_000_000, "m")):
            UsageDaily.create(day=day, token_id=token["id"], endpoint_id=endpoint["id"],
                              provider_id=provider, model=model, requests=1,
                              cost_nanos=nanos)
    tokens = admin.call("GET", "tokens", 200)["items"]
    assert [(t["monthly_budget"], t["spent_this_month"]) for t in tokens] == [(2.5, 1.5)]
    endpoints = admin.call("GET", "endpoints", 200)["items"]
    assert [(e["monthly_budget"], e["spent_this_month"]) for e in endpoints] == [(10.0, 1.5)]
    admin.call("PATCH", f"tokens/{token['id']}", 200, monthly_budget=None)
    assert admin.call("GET", "tokens", 200)["items"][0]["monthly_budget"] is None
