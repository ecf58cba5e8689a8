"""Shared helpers and fixtures for the admin API end-to-end tests (tests/server/test_admin_*.py).

Test modules register these fixtures with ``pytest_plugins = ["tests.server.admin_fixtures"]``.

An admin appliance is the client tests' `Appliance` (tests/server/client_fixtures.py: a data
directory seeded in-process, served by a real `modelproxy serve` child process) with admins
seeded too, and two providers: ``echo`` (offline) and ``fake`` (a FakeUpstream, with a
provider key). Everything else a test needs it creates through the admin API itself.

Fixtures:
- `admin_env`: the shared admin appliance (session scope), its fake upstream reset before
  each test. Tests give what they create unique names (`unique()`), and put back any
  run-time setting they change.
- `make_appliance`: a factory for dedicated appliances (fresh data directory, optional
  seeded admin, extra environment), stopped after the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from app.services import admins
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import ACTOR, Appliance, fresh, shared_server, wait_for

ADMIN_USER, ADMIN_PASSWORD = "root", "root-password-4821"
VIEWER_USER, VIEWER_PASSWORD = "viewer", "viewer-password-7730"
PROVIDER_KEY = "sk-admin-tests-provider-key-5b4a3c2d1e"
HTTP_TIMEOUT = 15
API = "/admin/api"


def unique(prefix: str) -> str:
    """A name no other test uses (the shared appliance outlives each test)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- talking to the admin API --------------------------------------------------------------


@dataclass
class Exchange:
    """One request and its answer, as an AdminClient saw them."""

    method: str
    url: str
    status: int
    content_type: str
    text: str


class AdminClient:
    """The admin API with one session. Paths are relative to /admin/api unless they start
    with "/". Every exchange is kept in `seen` (a list shared between clients when given)."""

    def __init__(self, url: str, token: str | None = None,
                 seen: list[Exchange] | None = None) -> None:
        self.url = url
        self.token = token
        self.seen: list[Exchange] = [] if seen is None else seen
        self.http = requests.Session()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        target = self.url + (path if path.startswith("/") else f"{API}/{path}")
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = self.http.request(method, target, headers=headers,
                                     timeout=kwargs.pop("timeout", HTTP_TIMEOUT), **kwargs)
        self.seen.append(Exchange(method, response.url, response.status_code,
                                  response.headers.get("Content-Type", ""), response.text))
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """The JSON answer of a request that must succeed with `status`."""
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.status_code,
                                                response.text)
        return response.json() if response.content else None

    def login(self, username: str, password: str) -> AdminClient:
        """A new client, logged in as `username` (sharing this one's `seen`)."""
        response = requests.post(f"{self.url}{API}/login", timeout=HTTP_TIMEOUT,
                                 json={"username": username, "password": password})
        self.seen.append(Exchange("POST", response.url, response.status_code,
                                  response.headers.get("Content-Type", ""), response.text))
        assert response.status_code == 200, response.text
        return AdminClient(self.url, response.json()["token"], self.seen)

    # conveniences over the resources

    def create_endpoint(self, provider_id: int, kind: str = "chat", **fields: Any) -> dict:
        name = fields.pop("name", None) or unique("ep")
        body = {"name": name, "path": fields.pop("path", f"/api/{name}"), "kind": kind,
                "model": fields.pop("model", "echo-model"), "provider_id": provider_id,
                **fields}
        return self.ok("POST", "endpoints", 201, json=body)

    def create_token(self, **fields: Any) -> dict:
        body = {"name": fields.pop("name", None) or unique("tok"), **fields}
        return self.ok("POST", "tokens", 201, json=body)

    def log_rows(self, **filters: Any) -> list[dict[str, Any]]:
        """Every request-log row matching the filters, newest first (all pages)."""
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {**filters, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = self.ok("GET", "logs", params=params)
            rows += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return rows

    def wait_for_log_rows(self, count: int, timeout: float = 8.0,
                          **filters: Any) -> list[dict[str, Any]]:
        """The rows matching the filters once there are at least `count` of them (the batch
        writer flushes every 250 ms)."""
        found: list[dict[str, Any]] = []

        def enough() -> bool:
            found[:] = self.log_rows(**filters)
            return len(found) >= count

        assert wait_for(enough, timeout, interval=0.1), (
            f"{len(found)} of {count} log rows after {timeout} s ({filters})")
        return found

    def audit_rows(self, **filters: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {**filters, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = self.ok("GET", "audit", params=params)
            rows += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return rows


def login_response(url: str, username: str, password: str) -> requests.Response:
    return requests.post(f"{url}{API}/login", json={"username": username, "password": password},
                         timeout=HTTP_TIMEOUT)


def assert_api_error(response: requests.Response, status: int, code: str | None = None,
                     mentions: str | None = None) -> dict[str, Any]:
    """`status` with the error shape {"error": {"message", "type", "code"}}; `code` when given;
    the message names `mentions` when given. Returns the error object."""
    assert response.status_code == status, (response.request.method, response.request.url,
                                            response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    if code is not None:
        assert error["code"] == code, error
    if mentions is not None:
        assert mentions.lower() in error["message"].lower(), error
    assert "Traceback" not in response.text
    return error


# --- the client API --------------------------------------------------------------------------


def chat(url: str, token: str, path: str = "/api/chat", text: str = "hello admin",
         headers: dict[str, str] | None = None, **extra: Any) -> requests.Response:
    """POST a chat body to a client API path with a client token."""
    body = {"messages": [{"role": "user", "content": text}], **extra}
    return requests.post(url + path, json=body, timeout=HTTP_TIMEOUT,
                         headers={"Authorization": f"Bearer {token}", **(headers or {})})


# --- appliances ----------------------------------------------------------------------------


@dataclass
class AdminAppliance:
    appliance: Appliance
    fake: FakeUpstream | None
    admin: AdminClient | None
    provider_ids: dict[str, int] = field(default_factory=dict)
    admin_ids: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.appliance.url

    @property
    def data_dir(self) -> Path:
        return self.appliance.data_dir

    def viewer(self) -> AdminClient:
        assert self.admin is not None
        return self.admin.login(VIEWER_USER, VIEWER_PASSWORD)


def build_admin_appliance(data_dir: Path, fake: FakeUpstream | None = None,
                          seed_admins: bool = True, login: bool = True,
                          database_url: str | None = None, **env: str) -> AdminAppliance:
    """Seed admins (root, viewer) and providers (echo, and fake when given), serve, and log
    in as root (when admins are seeded and `login`)."""
    app = Appliance(data_dir, database_url)
    admin_ids: dict[str, int] = {}
    if seed_admins:
        with app.session():
            admin_ids[ADMIN_USER] = admins.create(ACTOR, ADMIN_USER, ADMIN_PASSWORD, "admin",
                                                  rounds=4).id
            admin_ids[VIEWER_USER] = admins.create(ACTOR, VIEWER_USER, VIEWER_PASSWORD,
                                                   "viewer", rounds=4).id
    provider_ids = {"echo": app.provider("echo", type="echo")}
    if fake is not None:
        provider_ids["fake"] = app.provider("fake", base_url=fake.base_url,
                                            api_key=PROVIDER_KEY)
    app.serve(**env)
    client = None
    if seed_admins and login:
        client = AdminClient(app.url).login(ADMIN_USER, ADMIN_PASSWORD)
    return AdminAppliance(app, fake, client, provider_ids, admin_ids)


@pytest.fixture(scope="session")
def _admin_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminAppliance]:
    yield from shared_server(tmp_path_factory, "admin-env", build_admin_appliance)


@pytest.fixture
def admin_env(_admin_env: AdminAppliance) -> AdminAppliance:
    return fresh(_admin_env)


@pytest.fixture
def make_appliance(tmp_path: Path) -> Iterator[Callable[..., AdminAppliance]]:
    """make_appliance(name, fake=None, seed_admins=True, login=True, **env): a dedicated
    appliance in its own data directory."""
    made: list[AdminAppliance] = []

    def make(name: str, fake: FakeUpstream | None = None, seed_admins: bool = True,
             login: bool = True, **env: str) -> AdminAppliance:
        appliance = build_admin_appliance(tmp_path / name, fake, seed_admins, login, **env)
        made.append(appliance)
        return appliance

    yield make
    for appliance in made:
        appliance.appliance.close()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    return wait_for(predicate, timeout, interval)
