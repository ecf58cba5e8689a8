"""Admin API access end to end: first-run setup, sessions, what client tokens and admin
sessions may open, roles, failed-login slow-down and lock-out, the address allow-list."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import secrets
import select
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.models import Admin
from app.services import sessions

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.server.admin_fixtures import (  # noqa: E402
    ADMIN_PASSWORD,
    ADMIN_USER,
    API,
    HTTP_TIMEOUT,
    VIEWER_PASSWORD,
    VIEWER_USER,
    AdminAppliance,
    AdminClient,
    assert_api_error,
    chat,
    login_response,
    unique,
    wait_until,
)

pytest_plugins = ["tests.server.admin_fixtures"]

USER_FIELDS = {"id", "username", "role", "created_at"}
# First-run setup needed, with no admin allow-list, asked from loopback
OPEN_SETUP = {"needed": True, "address": "127.0.0.1", "admin_allow": [],
              "admin_allow_source": "none"}
QUICK_REQUESTS = 10  # answered in a few ms each: all of them well within a 1 s hold-back


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- first-run setup -------------------------------------------------------------------------


def test_setup_code_creates_the_first_admin_once(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    env = make_appliance("setup", seed_admins=False)
    url, code_file = env.url, env.data_dir / "setup-code"
    assert wait_until(code_file.is_file, 5), "no setup-code file after start"
    code = code_file.read_text().strip()
    assert code
    assert code_file.stat().st_mode & 0o077 == 0, oct(code_file.stat().st_mode)

    def setup(body: dict) -> requests.Response:
        return requests.post(f"{url}{API}/setup", json=body, timeout=HTTP_TIMEOUT)

    assert requests.get(f"{url}{API}/setup", timeout=HTTP_TIMEOUT).json() == OPEN_SETUP
    wrong = "AAAA-BBBB-CCCC" if code != "AAAA-BBBB-CCCC" else "CCCC-BBBB-AAAA"
    assert_api_error(setup({"username": "first", "password": "first-pass-123", "code": wrong}),
                     403)
    assert_api_error(setup({"username": "first", "password": "first-pass-123"}), 403)
    assert_api_error(setup({"username": "first", "password": "short", "code": code}), 400,
                     mentions="password")
    # refusals change nothing: setup is still needed and the code still works
    assert requests.get(f"{url}{API}/setup", timeout=HTTP_TIMEOUT).json() == OPEN_SETUP
    assert code_file.is_file()

    created = setup({"username": "first", "password": "first-pass-123", "code": code})
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) >= USER_FIELDS and user["username"] == "first" and user["role"] == "admin"
    assert "first-pass-123" not in created.text and "password" not in user
    assert not code_file.exists(), "the setup code must be spent"
    assert requests.get(f"{url}{API}/setup", timeout=HTTP_TIMEOUT).json() == {"needed": False}

    again = setup({"username": "second", "password": "second-pass-123", "code": code})
    assert_api_error(again, 409)
    assert login_response(url, "second", "second-pass-123").status_code == 401
    session = login_response(url, "first", "first-pass-123")
    assert session.status_code == 200 and session.json()["user"]["id"] == user["id"]

    env.appliance.stop()
    assert code in env.appliance.live.output, "the setup code is printed at start"


# --- sessions ----------------------------------------------------------------------------------


def test_login_returns_a_session_that_opens_the_admin_api(admin_env: AdminAppliance) -> None:
    response = login_response(admin_env.url, ADMIN_USER, ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"token", "expires_at", "user"}
    assert body["token"].startswith("mps_") and len(body["token"]) > 40
    expires = _parse_time(body["expires_at"])
    now = dt.datetime.now(dt.UTC)
    assert now + dt.timedelta(hours=11) < expires <= now + dt.timedelta(hours=12, minutes=1)
    assert set(body["user"]) >= USER_FIELDS
    assert body["user"]["username"] == ADMIN_USER and body["user"]["role"] == "admin"
    assert ADMIN_PASSWORD not in response.text and "password_hash" not in response.text
    client = AdminClient(admin_env.url, body["token"])
    assert client.ok("GET", "me")["username"] == ADMIN_USER
    assert isinstance(client.ok("GET", "providers")["items"], list)


def test_wrong_credentials_are_401(admin_env: AdminAppliance) -> None:
    wrong_password = login_response(admin_env.url, ADMIN_USER, "not-the-password")
    unknown_user = login_response(admin_env.url, unique("nobody"), ADMIN_PASSWORD)
    first = assert_api_error(wrong_password, 401, "invalid_credentials")
    second = assert_api_error(unknown_user, 401, "invalid_credentials")
    assert first["message"] == second["message"], "the answer must not tell which was wrong"
    assert "token" not in wrong_password.json()
    assert_api_error(requests.post(f"{admin_env.url}{API}/login", json={"username": "x"},
                                   timeout=HTTP_TIMEOUT), 400)
    # a good login from this address clears the failures counted against it
    assert login_response(admin_env.url, ADMIN_USER, ADMIN_PASSWORD).status_code == 200


def test_logout_ends_that_session_only(admin_env: AdminAppliance) -> None:
    assert admin_env.admin is not None
    one = admin_env.admin.login(ADMIN_USER, ADMIN_PASSWORD)
    two = admin_env.admin.login(ADMIN_USER, ADMIN_PASSWORD)
    assert one.request("POST", "logout").status_code == 204
    assert_api_error(one.get("me"), 401, "invalid_session")
    assert_api_error(one.get("providers"), 401, "invalid_session")
    assert_api_error(one.post("logout"), 401, "invalid_session")
    assert two.ok("GET", "me")["username"] == ADMIN_USER


def test_expired_and_garbage_sessions_are_401(admin_env: AdminAppliance) -> None:
    with admin_env.appliance.session():
        root = Admin.get(Admin.username == ADMIN_USER)
        expired, _ = sessions.start(root, "127.0.0.1", dt.timedelta(seconds=-1))
        live, _ = sessions.start(root, "127.0.0.1", dt.timedelta(minutes=5))
    assert AdminClient(admin_env.url, live).ok("GET", "me")["username"] == ADMIN_USER
    assert_api_error(AdminClient(admin_env.url, expired).get("me"), 401, "invalid_session")
    for authorization in [None, "", "Bearer", "Bearer garbage", f"Bearer {live}x",
                          "Bearer mps_" + secrets.token_urlsafe(32), f"Basic {live}", live]:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = requests.get(f"{admin_env.url}{API}/tokens", headers=headers,
                                timeout=HTTP_TIMEOUT)
        assert_api_error(response, 401, "invalid_session")
    # the public routes need no session
    public = requests.get(f"{admin_env.url}{API}/setup", timeout=HTTP_TIMEOUT)
    assert public.status_code == 200 and public.json() == {"needed": False}


def test_client_token_never_opens_the_admin_api(admin_env: AdminAppliance) -> None:
    assert admin_env.admin is not None
    created = admin_env.admin.create_token(scopes=["all"])
    client = AdminClient(admin_env.url, created["token"])
    for method, path in [("GET", "me"), ("GET", "tokens"), ("GET", "providers"),
                         ("POST", "tokens"), ("GET", "settings")]:
        assert_api_error(client.request(method, path, json={"name": "x"}), 401,
                         "invalid_session")


def test_admin_session_never_opens_the_client_api(admin_env: AdminAppliance) -> None:
    assert admin_env.admin is not None
    endpoint = admin_env.admin.create_endpoint(admin_env.provider_ids["echo"])
    session = admin_env.admin.token
    assert session is not None
    assert_api_error(chat(admin_env.url, session, endpoint["path"]), 401)
    assert_api_error(chat(admin_env.url, session), 401)
    headers = {"Authorization": f"Bearer {session}"}
    for path in ("/v1/models", "/api/models"):
        assert_api_error(requests.get(admin_env.url + path, headers=headers,
                                      timeout=HTTP_TIMEOUT), 401)


# --- roles -------------------------------------------------------------------------------------


def test_viewer_reads_everything_but_admins_and_writes_nothing(
        admin_env: AdminAppliance) -> None:
    assert admin_env.admin is not None
    root = admin_env.admin
    endpoint = root.create_endpoint(admin_env.provider_ids["echo"])
    token = root.create_token()
    provider_id = admin_env.provider_ids["echo"]
    viewer = admin_env.viewer()
    assert viewer.ok("GET", "me")["role"] == "viewer"
    for path in ["providers", f"providers/{provider_id}", "endpoints",
                 f"endpoints/{endpoint['id']}", "tokens", f"tokens/{token['id']}", "usage",
                 "overview", "logs", "audit", "settings"]:
        assert viewer.get(path).status_code == 200, path
    assert viewer.get("logs/export.csv").status_code == 200

    assert_api_error(viewer.get("admins"), 403)
    assert_api_error(viewer.get(f"admins/{admin_env.admin_ids[ADMIN_USER]}"), 403)

    before = root.ok("GET", "settings")
    writes = [
        ("POST", "providers", {"name": unique("v"), "type": "echo"}),
        ("PATCH", f"providers/{provider_id}", {"enabled": False}),
        ("DELETE", f"providers/{provider_id}", None),
        ("POST", f"providers/{provider_id}/test", None),
        ("POST", "endpoints", {"name": unique("v")}),
        ("PATCH", f"endpoints/{endpoint['id']}", {"enabled": False}),
        ("DELETE", f"endpoints/{endpoint['id']}", None),
        ("POST", "tokens", {"name": unique("v")}),
        ("PATCH", f"tokens/{token['id']}", {"rpm": 1}),
        ("POST", f"tokens/{token['id']}/revoke", None),
        ("DELETE", f"tokens/{token['id']}", None),
        ("POST", "admins", {"username": unique("v"), "password": "viewer-made-1234"}),
        ("PATCH", f"admins/{admin_env.admin_ids[VIEWER_USER]}", {"role": "admin"}),
        ("DELETE", f"admins/{admin_env.admin_ids[ADMIN_USER]}", None),
        ("PATCH", "settings", {"log_retention_days": 5}),
    ]
    for method, path, body in writes:
        assert_api_error(viewer.request(method, path, json=body), 403, "read_only")

    # nothing changed
    assert root.ok("GET", f"endpoints/{endpoint['id']}")["enabled"] is True
    assert root.ok("GET", f"tokens/{token['id']}")["revoked"] is False
    assert root.ok("GET", f"providers/{provider_id}")["enabled"] is True
    assert root.ok("GET", f"admins/{admin_env.admin_ids[VIEWER_USER]}")["role"] == "viewer"
    assert root.ok("GET", "settings") == before
    assert chat(admin_env.url, token["token"], endpoint["path"]).status_code == 200
    # a viewer may end its own session
    assert viewer.post("logout").status_code == 204
    assert_api_error(viewer.get("me"), 401, "invalid_session")


# --- failed logins -----------------------------------------------------------------------------


def test_failed_logins_slow_down_then_lock_the_address_but_not_the_admin(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    """3 failures answer at once, then 1 s, 2 s, 4 s...; the 10th failure within 15 minutes
    locks the address (429 + Retry-After). The admin is not locked out from elsewhere
    (issue 11, item 9: it was, for 15 minutes, from every address); an address that also
    guessed at it waits a short backoff instead."""
    env = make_appliance("lockout", login=False, MODELPROXY_TRUSTED_PROXIES="127.0.0.1")

    def attempt(username: str, password: str, address: str) -> requests.Response:
        return requests.post(f"{env.url}{API}/login", timeout=30,
                             json={"username": username, "password": password},
                             headers={"X-Forwarded-For": address})

    attacker, second = "10.9.9.9", "10.8.8.8"
    for _ in range(3):  # how long each answer is held back is the guard's unit test's
        assert_api_error(attempt(ADMIN_USER, "wrong-password", attacker), 401,
                         "invalid_credentials")
    # The 4th failure is held back: the requests sent after it are all answered before it.
    assert env.appliance.live is not None
    fourth = http.client.HTTPConnection("127.0.0.1", env.appliance.live.port, timeout=30)
    fourth.request("POST", f"{API}/login", json.dumps(
        {"username": ADMIN_USER, "password": "wrong-password"}), headers={
        "Content-Type": "application/json", "X-Forwarded-For": attacker})
    overtaken = 0
    with requests.Session() as session:
        for _ in range(QUICK_REQUESTS):
            assert session.get(f"{env.url}{API}/setup", timeout=HTTP_TIMEOUT).ok
            overtaken += not select.select([fourth.sock], [], [], 0)[0]  # no answer yet
    answer = fourth.getresponse()
    assert answer.status == 401 and json.loads(answer.read())["error"]["code"] == \
        "invalid_credentials"
    fourth.close()
    assert overtaken == QUICK_REQUESTS, "the 4th failure was answered at once"
    # Failures 5-10 at once (their delays overlap): 6 can be tried, no more. Each counts
    # from the moment it begins, so whatever order the 8 interleave in, the 7th and 8th
    # to begin find 10 counted (tests/unit/test_login_guard.py tries every order).
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: attempt(ADMIN_USER, "wrong-password", attacker),
                                range(8)))
    assert sorted(a.status_code for a in answers) == [401] * 6 + [429] * 2, \
        [a.text for a in answers]

    locked = attempt(ADMIN_USER, ADMIN_PASSWORD, attacker)
    assert_api_error(locked, 429, "login_locked")
    retry_after = int(locked.headers["Retry-After"])
    assert 60 < retry_after <= 15 * 60 + 1, retry_after
    assert "token" not in locked.json()
    # the address is locked for another username too
    assert_api_error(attempt(VIEWER_USER, VIEWER_PASSWORD, attacker), 429, "login_locked")
    # another address that guessed at the admin waits a short backoff, even when right ...
    assert_api_error(attempt(ADMIN_USER, "wrong-password", second), 401)
    soft = attempt(ADMIN_USER, ADMIN_PASSWORD, second)
    assert_api_error(soft, 429, "login_locked")
    assert 1 <= int(soft.headers["Retry-After"]) <= 61
    assert attempt(VIEWER_USER, VIEWER_PASSWORD, second).status_code == 200
    # ... and the admin, from an address that did not guess, logs in
    assert attempt(ADMIN_USER, ADMIN_PASSWORD, "10.7.7.7").status_code == 200


# --- the address allow-list ----------------------------------------------------------------------


def test_admin_allow_list_closes_the_admin_api_and_metrics(
        make_appliance: Callable[..., AdminAppliance]) -> None:
    env = make_appliance("allow", login=False, MODELPROXY_ADMIN_ALLOW="10.0.0.0/8")
    url = env.url
    for method, path, body in [("GET", f"{API}/setup", None), ("GET", f"{API}/openapi.json", None),
                               ("GET", f"{API}/me", None), ("GET", f"{API}/tokens", None),
                               ("POST", f"{API}/login",
                                {"username": ADMIN_USER, "password": ADMIN_PASSWORD}),
                               ("GET", "/metrics", None)]:
        response = requests.request(method, url + path, json=body, timeout=HTTP_TIMEOUT)
        assert_api_error(response, 403, "ip_not_allowed")
        assert "token" not in response.text
    # X-Forwarded-For from an untrusted peer is not believed
    spoofed = requests.post(f"{url}{API}/login", headers={"X-Forwarded-For": "10.1.2.3"},
                            json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                            timeout=HTTP_TIMEOUT)
    assert_api_error(spoofed, 403, "ip_not_allowed")
    metrics = requests.get(url + "/metrics", headers={"X-Forwarded-For": "10.1.2.3"},
                           timeout=HTTP_TIMEOUT)
    assert_api_error(metrics, 403, "ip_not_allowed")
    # the client API is not affected
    health = requests.get(url + "/api/health", timeout=HTTP_TIMEOUT)
    assert health.status_code == 200 and health.json()["status"] == "ok"
