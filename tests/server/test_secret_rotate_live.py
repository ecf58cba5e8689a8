"""`modelproxy secret rotate` while a server runs: the server picks the new key up from the
key file, and whatever happens to the provider keys, tokens keep applying — new ones work,
revoked ones are refused within 5 s, admin writes answer 2xx with the token's plaintext.
With MODELPROXY_SECRET_KEY the running server cannot learn the new key: the command says
so, the server keeps the provider keys it had opened but refuses to seal new ones (409)
until a restart with the new key, and tokens still apply."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from app.crypto import write_key_file  # noqa: E402
from tests.fakes.upstream import FakeUpstream  # noqa: E402
from tests.server.admin_fixtures import (  # noqa: E402
    PROVIDER_KEY,
    AdminAppliance,
    assert_api_error,
    build_admin_appliance,
    chat,
)
from tests.server.client_fixtures import clean_environ, wait_for  # noqa: E402

NEW_ENV_KEY = "a-brand-new-environment-secret-key-0123456789"


def _status_becomes(url: str, token: str, path: str, status: int, timeout: float = 5) -> bool:
    """Whether a token's answer becomes `status` within the 5 s in which a running server
    sees what the CLI changed. (A token the catalog does not know yet is a 401 that costs no
    bcrypt and is not remembered, so asking early changes nothing.)"""
    return wait_for(lambda: chat(url, token, path).status_code == status, timeout, 0.1)


def _cli(env: AdminAppliance, *args: str, stdin: str | None = None,
         **environ: str) -> subprocess.CompletedProcess:
    app = env.appliance
    command = [sys.executable, "-m", "app.main", *args, "--data-dir", str(app.data_dir)]
    if app.database_url:
        command += ["--database-url", app.database_url]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, input=stdin,
                          env={**clean_environ(), **environ}, check=False)


def _cli_token(env: AdminAppliance, name: str, **environ: str) -> dict:
    made = _cli(env, "token", "create", "--name", name, "--json", **environ)
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)

ORG_HEADER = "org-header-secret-value"


def _serve_with_fake_endpoint(tmp_path: Path, fake: FakeUpstream, database_url: str | None,
                              **environ: str) -> tuple[AdminAppliance, str]:
    fake.require_api_key(PROVIDER_KEY)  # so a provider key that cannot be opened shows
    env = build_admin_appliance(tmp_path / "data", fake, database_url=database_url, **environ)
    assert env.admin is not None
    # Sealed headers too: a rotation re-seals them, and a reload must survive that.
    env.admin.ok("PATCH", f"providers/{env.provider_ids['fake']}",
                 json={"headers": {"X-Org": ORG_HEADER}})
    endpoint = env.admin.create_endpoint(env.provider_ids["fake"], name="upstream",
                                         path="/api/upstream", model="gpt-4o-mini")
    return env, endpoint["path"]


def test_rotate_with_the_key_file_while_serving(tmp_path: Path, database_url: str) -> None:
    with FakeUpstream() as fake:
        env, path = _serve_with_fake_endpoint(tmp_path, fake, database_url)
        root = env.admin
        try:
            kept, revoked = _cli_token(env, "kept"), _cli_token(env, "revoked-by-cli")
            api_revoked = root.create_token(name="revoked-by-api")
            assert _status_becomes(env.url, kept["token"], path, 200)
            assert _status_becomes(env.url, revoked["token"], path, 200)

            rotated = _cli(env, "secret", "rotate")
            assert rotated.returncode == 0, rotated.stderr
            assert "picks the new key up" in rotated.stderr
            # At once, before the server's next look: a provider key made now is sealed
            # under the key in force (the server checks it against the database first).
            made = root.ok("POST", "providers", 201, json={
                "name": "after-rotate", "type": "openai_compatible",
                "base_url": fake.base_url, "api_key": PROVIDER_KEY})
            root.create_endpoint(made["id"], name="late", path="/api/late", model="gpt-4o-mini")

            fresh = _cli_token(env, "made-after-rotate")
            assert _cli(env, "token", "revoke", str(revoked["id"])).returncode == 0
            assert _status_becomes(env.url, revoked["token"], path, 403)
            assert _status_becomes(env.url, fresh["token"], path, 200)
            root.ok("POST", f"tokens/{api_revoked['id']}/revoke")
            assert_api_error(chat(env.url, api_revoked["token"], path), 403, "token_revoked")
            created = root.create_token(name="made-by-api-after-rotate")  # 201 + plaintext
            assert chat(env.url, created["token"], path).status_code == 200
            assert chat(env.url, kept["token"], path).status_code == 200  # old key, reopened
            assert chat(env.url, kept["token"], "/api/late").status_code == 200

            assert env.appliance.stop() == 0
            assert "cannot be decrypted" not in env.appliance.live.output
            env.appliance.serve()  # the key file was swapped: a restart opens every key
            for endpoint_path in (path, "/api/late"):
                assert chat(env.url, kept["token"], endpoint_path).status_code == 200
        finally:
            env.appliance.close()


def test_rotate_with_the_environment_key_while_serving(tmp_path: Path) -> None:
    with FakeUpstream() as fake:
        old_key = "the-environment-secret-key-the-server-started-with"
        write_key_file(tmp_path / "data" / "secret.key", old_key)  # what seeding will use
        env, path = _serve_with_fake_endpoint(tmp_path, fake, None,
                                              MODELPROXY_SECRET_KEY=old_key)
        root = env.admin
        try:
            (env.data_dir / "secret.key").unlink()  # the environment's key is the only one
            kept = _cli_token(env, "kept", MODELPROXY_SECRET_KEY=old_key)
            revoked = _cli_token(env, "revoked", MODELPROXY_SECRET_KEY=old_key)
            assert _status_becomes(env.url, kept["token"], path, 200)

            rotated = _cli(env, "secret", "rotate", "--new-key-stdin", stdin=NEW_ENV_KEY,
                           MODELPROXY_SECRET_KEY=old_key)
            assert rotated.returncode == 0, rotated.stderr
            assert "until it is restarted with the new key" in rotated.stderr

            # The server keeps the provider keys it opened (a rotation re-seals the same
            # keys), but it cannot seal a new one under a key it does not have.
            refused = root.post("providers", json={
                "name": "after-rotate", "type": "openai_compatible",
                "base_url": fake.base_url, "api_key": PROVIDER_KEY})
            assert_api_error(refused, 409, mentions="restart it with the new key")
            assert chat(env.url, kept["token"], path).status_code == 200
            assert fake.last_request.headers.get("X-Org") == ORG_HEADER
            assert chat(env.url, kept["token"], "/api/echo-after").status_code == 404
            root.create_endpoint(env.provider_ids["echo"], name="echo-after",
                                 path="/api/echo-after")  # 201: admin writes go on
            assert chat(env.url, kept["token"], "/api/echo-after").status_code == 200
            assert _cli(env, "token", "revoke", str(revoked["id"]),
                        MODELPROXY_SECRET_KEY=NEW_ENV_KEY).returncode == 0
            assert _status_becomes(env.url, revoked["token"], "/api/echo-after", 403)
            created = root.create_token(name="made-after-rotate")
            assert chat(env.url, created["token"], "/api/echo-after").status_code == 200

            assert env.appliance.stop() == 0
            env.appliance.serve(MODELPROXY_SECRET_KEY=NEW_ENV_KEY)
            assert requests.get(env.url + "/api/health", timeout=10).status_code == 200
            assert chat(env.url, kept["token"], path).status_code == 200
        finally:
            env.appliance.close()
