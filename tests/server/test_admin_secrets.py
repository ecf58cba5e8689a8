"""No secret leaves the appliance: a whole admin flow, then every JSON answer it got, every
audit row, the server's own output and the database files are searched for the provider
keys, the client tokens' plaintexts and the admins' passwords."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.fakes.upstream import FakeUpstream  # noqa: E402
from tests.server.admin_fixtures import (  # noqa: E402
    ADMIN_PASSWORD,
    PROVIDER_KEY,
    VIEWER_PASSWORD,
    AdminAppliance,
    assert_api_error,
    chat,
    unique,
)

pytest_plugins = ["tests.server.admin_fixtures"]


def _files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.iterdir() if p.is_file() and p.name.startswith("modelproxy.db")]


def test_no_secret_in_any_response_audit_row_output_or_database_file(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    with FakeUpstream() as fake:
        env = make_appliance("secrets", fake=fake)
        root = env.admin
        assert root is not None
        seen = root.seen
        first_key, second_key = "sk-first-" + unique("key"), "sk-second-" + unique("key")
        org_key = "org-" + unique("credential")  # an extra header that is a credential
        admin_password, new_password = "flow-password-1234", "flow-password-5678"

        # providers: the key goes in, a hint comes out, the key works upstream
        provider = root.ok("POST", "providers", 201, json={
            "name": unique("secret"), "type": "openai_compatible", "base_url": fake.base_url,
            "api_key": first_key, "headers": {"X-Org-Key": org_key}})
        pid = provider["id"]
        assert provider["headers"] == {"X-Org-Key": "…" + org_key[-4:]}
        root.ok("GET", "providers")
        root.ok("GET", f"providers/{pid}")
        assert root.ok("PATCH", f"providers/{pid}",
                       json={"api_key": second_key})["api_key_hint"] == "…" + second_key[-4:]
        fake.require_api_key(second_key)
        assert root.ok("POST", f"providers/{pid}/test")["ok"] is True
        fake.require_api_key(None)
        endpoint = root.create_endpoint(pid, model="gpt-4o-mini")
        echo_endpoint = root.create_endpoint(env.provider_ids["echo"])

        # tokens: the plaintext comes once
        first = root.create_token(scopes=["chat"])
        second = root.create_token()
        plaintexts = [first["token"], second["token"]]
        client_answers = [
            chat(env.url, first["token"], endpoint["path"], "hello secrets"),
            chat(env.url, first["token"], echo_endpoint["path"]),
            chat(env.url, first["token"], endpoint["path"], stream=True),
        ]
        # an upstream that repeats the key in its error message
        fake.fail_next(401, {"error": {"message": f"Incorrect API key provided: {second_key}",
                                       "type": "invalid_request_error",
                                       "code": "invalid_api_key"}})
        client_answers.append(chat(env.url, second["token"], endpoint["path"]))
        assert [a.status_code for a in client_answers[:3]] == [200, 200, 200]
        keyed = f"Bearer {second_key}"
        ours = [r for r in fake.requests if r.headers.get("Authorization") == keyed]
        assert ours and all(r.headers.get("X-Org-Key") == org_key for r in ours)  # upstream only
        # the window's edit: every field sent back as shown keeps the header's value
        root.ok("PATCH", f"providers/{pid}", json={**{k: provider[k] for k in (
            "name", "type", "base_url", "timeout_s", "enabled")},
            "headers": root.ok("GET", f"providers/{pid}")["headers"]})
        assert chat(env.url, first["token"], endpoint["path"]).status_code == 200
        assert fake.last_request.headers["X-Org-Key"] == org_key
        viewer_sees = env.viewer().get("providers")
        assert viewer_sees.status_code == 200 and org_key not in viewer_sees.text
        assert client_answers[3].status_code >= 400
        root.ok("GET", "tokens")
        root.ok("GET", f"tokens/{first['id']}")
        root.ok("PATCH", f"tokens/{first['id']}", json={"rpm": 1000})
        root.ok("POST", f"tokens/{second['id']}/revoke")
        client_answers.append(chat(env.url, second["token"], endpoint["path"]))

        # admins: passwords go in, never come out
        admin = root.ok("POST", "admins", 201, json={"username": unique("flow"),
                                                      "password": admin_password})
        root.ok("PATCH", f"admins/{admin['id']}", json={"password": new_password})
        theirs = root.login(admin["username"], new_password)
        theirs.ok("GET", "me")
        env.viewer().ok("GET", "tokens")
        root.ok("GET", "admins")
        root.ok("GET", f"admins/{admin['id']}")

        # reports
        rows = root.wait_for_log_rows(6)
        assert len(rows) == 6
        root.ok("GET", "usage", params={"group_by": "token"})
        root.ok("GET", "overview")
        root.ok("GET", "settings")
        root.ok("PATCH", "settings", json={"log_retention_days": 60})
        root.ok("GET", "openapi.json")
        csv = root.get("logs/export.csv")
        assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 7
        audit = root.audit_rows()
        assert len(audit) >= 12

        env.appliance.stop()

    secrets = {"first provider key": first_key, "second provider key": second_key,
               "seeded provider key": PROVIDER_KEY, "admin password": admin_password,
               "new admin password": new_password, "root password": ADMIN_PASSWORD,
               "viewer password": VIEWER_PASSWORD, "provider header value": org_key,
               "first token": plaintexts[0],
               "second token": plaintexts[1]}

    # each token's plaintext is in its create response, and nowhere else
    for plaintext in plaintexts:
        holders = [e for e in seen if plaintext in e.text]
        assert len(holders) == 1, [(e.method, e.url) for e in holders]
        assert holders[0].method == "POST" and holders[0].url.endswith("/admin/api/tokens")
        assert holders[0].status == 201 and json.loads(holders[0].text)["token"] == plaintext
    creations = {id(e) for e in seen for p in plaintexts if p in e.text}

    assert len(seen) > 30
    for exchange in seen:
        for what, secret in secrets.items():
            if id(exchange) in creations and secret in plaintexts:
                continue
            assert secret not in exchange.text, (what, exchange.method, exchange.url)
    for answer in client_answers:
        for what, secret in secrets.items():
            assert secret not in answer.text, (what, answer.url)
            assert secret not in json.dumps(dict(answer.headers)), what

    audit_text = json.dumps(audit)
    for what, secret in secrets.items():
        assert secret not in audit_text, what
    by_action: dict[str, list[dict]] = {}
    for row in audit:
        by_action.setdefault(row["action"], []).append(row)
    assert any(r["changes"].get("api_key") == "(changed)" and r["target_id"] == pid
               for r in by_action["provider.create"])
    assert any(r["changes"].get("api_key") == "(changed)" and r["target_id"] == pid
               for r in by_action["provider.update"])
    assert any(r["changes"].get("password") == "(changed)" and r["target_id"] == admin["id"]
               for r in by_action["admin.update"])
    assert all("password" not in r["changes"] or r["changes"]["password"] == "(changed)"
               for r in audit)

    for what, secret in secrets.items():
        assert secret not in env.appliance.live.output, f"{what} in the server's output"
        for path in _files(env.data_dir):
            assert secret.encode() not in path.read_bytes(), f"{what} in {path.name}"


def test_the_create_response_is_the_only_way_to_a_token(admin_env: AdminAppliance) -> None:
    root = admin_env.admin
    assert root is not None
    created = root.create_token()
    for path in ("tokens", f"tokens/{created['id']}"):
        response = root.get(path)
        assert created["token"] not in response.text
        assert "secret_hash" not in response.text and "$2b$" not in response.text
    revoked = root.post(f"tokens/{created['id']}/revoke")
    assert created["token"] not in revoked.text and "token" not in revoked.json()
    patched = root.patch(f"tokens/{created['id']}", json={"name": unique("renamed")})
    assert created["token"] not in patched.text and "token" not in patched.json()
    providers = root.get("providers")
    assert PROVIDER_KEY not in providers.text and "api_key_encrypted" not in providers.text
    assert_api_error(requests.get(admin_env.url + "/admin/api/tokens",
                                  headers={"Authorization": f"Bearer {created['token']}"},
                                  timeout=10), 401)
