"""Shared helpers for the client API end-to-end tests (tests/server/test_client_*.py).

An `Appliance` is a data directory and database seeded in-process with the app services,
then served by a real `modelproxy serve` child process (tests/live.py) that talks to a
FakeUpstream on loopback. The request log is read straight from the database.

Fixtures (registered by tests/server/conftest.py):
- `gateway`: the shared appliance (session scope; see `MainGateway` for what it holds),
  its fake upstream reset and its recordings cleared before each test;
- `edge`: a second shared appliance started with MODELPROXY_TRUSTED_PROXIES=127.0.0.1,
  MODELPROXY_CORS_ORIGINS and a 2048-byte MODELPROXY_MAX_BODY_BYTES.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from app.db import open_database
from app.models import ProviderHealth, RequestLog, database_proxy
from app.services import endpoints, providers, secret_key, tokens
from app.services.audit import Actor
from app.settings import load_settings
from tests.fakes.upstream import FakeUpstream
from tests.live import LiveServer

UPSTREAM_KEY = "sk-upstream-secret-1234"
CORS_ORIGIN = "https://app.example.com"
EDGE_BODY_LIMIT = 2048
ACTOR = Actor("tests")
HTTP_TIMEOUT = 10


# --- seeding and serving -------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    id: int
    plaintext: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.plaintext}"}


class Appliance:
    """A data directory plus database, seeded in-process, served by `modelproxy serve`."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.settings = load_settings(
            {"data_dir": str(data_dir), "database_url": database_url, "bcrypt_rounds": 4},
            environ={}, env_file=None)
        self.db = open_database(self.settings)
        with self.session():
            self.box = secret_key.load_box(self.settings)
        self.live: LiveServer | None = None

    @contextmanager
    def session(self) -> Iterator[None]:
        """The models bound to this appliance's database, with a connection open.
        (The binding is process-wide, so it is made again each time.)"""
        database_proxy.initialize(self.db)
        with self.db.connection_context():
            yield

    # seeding

    def provider(self, name: str, type: str = "openai_compatible", **fields: Any) -> int:
        with self.session():
            return providers.create(self.box, ACTOR, name=name, type=type, **fields).id

    def endpoint(self, name: str, path: str, provider: str, kind: str = "chat",
                 model: str = "gpt-4o-mini", **fields: Any) -> int:
        with self.session():
            return endpoints.create(ACTOR, name=name, path=path, kind=kind, model=model,
                                    provider=provider, **fields).id

    def token(self, name: str, scopes: list[str] | None = None, **fields: Any) -> IssuedToken:
        with self.session():
            row, plaintext = tokens.create(ACTOR, 4, name=name,
                                           scopes=scopes or ["all"], **fields)
        return IssuedToken(row.id, plaintext)

    def revoke(self, token: IssuedToken) -> None:
        with self.session():
            tokens.revoke(ACTOR, token.id)

    # serving

    def serve(self, wrap: list[str] | None = None, workers: int = 1,
              ca_file: Path | None = None, **env: str) -> LiveServer:
        """`modelproxy serve` on this appliance; `workers=N` runs N workers under a
        supervisor (pass MODELPROXY_REDIS_URL, e.g. the `redis_server` fixture's url);
        `ca_file`: it serves TLS with a certificate that CA signed."""
        live = LiveServer(self.data_dir, self.database_url, env=env, wrap=wrap,
                          workers=workers, ca_file=ca_file)
        live.env = {**clean_environ(), "MODELPROXY_BCRYPT_ROUNDS": "4", **env}
        if self.database_url:
            live.env["MODELPROXY_DATABASE_URL"] = self.database_url
        self.live = live.start()
        return self.live

    @property
    def url(self) -> str:
        assert self.live is not None, "not served"
        return self.live.url

    def stop(self) -> int:
        assert self.live is not None
        return self.live.stop()

    def close(self) -> None:
        if self.live is not None and self.live.process and self.live.process.poll() is None:
            self.live.stop()
        self.db.close_all()

    def wait_for_provider_checks(self, providers: int, timeout: float = 10.0) -> None:
        """Until the server's start-up health check has recorded every provider."""
        def probe() -> bool:
            with self.session():
                return ProviderHealth.select().count() >= providers

        assert wait_for(probe, timeout), "the start-up provider check did not finish"

    # the request log

    def log_rows(self) -> list[dict[str, Any]]:
        with self.session():
            return list(RequestLog.select().order_by(RequestLog.id).dicts())

    def log_row(self, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The log row of one request, waiting (bounded) for the batch writer."""
        found: list[dict[str, Any]] = []

        def probe() -> bool:
            with self.session():
                found[:] = RequestLog.select().where(RequestLog.request_id == request_id).dicts()
            return bool(found)

        assert wait_for(probe, timeout), f"no request-log row for {request_id} in {timeout} s"
        assert len(found) == 1, f"{len(found)} log rows for {request_id}"
        return found[0]

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """`modelproxy ARGS --data-dir D [--database-url URL]`, as a child process."""
        command = [sys.executable, "-m", "app.main", *args, "--data-dir", str(self.data_dir)]
        if self.database_url:
            command += ["--database-url", self.database_url]
        return subprocess.run(command, capture_output=True, text=True, timeout=60,
                              env=clean_environ(), check=False)

    def cli_json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def clean_environ() -> dict[str, str]:
    """This environment without outside MODELPROXY_* settings and provider keys."""
    provider_keys = {"OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY"}
    return {k: v for k, v in os.environ.items()
            if not k.startswith("MODELPROXY_") and k not in provider_keys}


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not (ok := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return ok


# --- the shared appliances -----------------------------------------------------------------


@dataclass
class MainGateway:
    """The shared appliance: a fake upstream, the offline echo provider, and tokens for
    every policy. Endpoints (name, path, kind, upstream model, provider):

    - chat        /api/chat         chat        gpt-4o-mini             fake
    - embed       /api/embeddings   embeddings  text-embedding-3-small  fake
    - team-chat   /api/team/chat    chat        gpt-4o                  fake
    - echo-chat   /api/echo/chat    chat        echo-model              echo
    - echo-embed  /api/echo/embed   embeddings  echo-embedding          echo
    - off         /api/off          chat        gpt-4o-mini  (disabled) fake
    - slow        /api/slow         chat        gpt-4o-mini             slow (fake, 0.5 s timeout)
    """

    appliance: Appliance
    fake: FakeUpstream
    tokens: dict[str, IssuedToken]
    endpoint_ids: dict[str, int]

    @property
    def url(self) -> str:
        return self.appliance.url

    def headers(self, token: str = "all", **extra: str) -> dict[str, str]:
        return {**self.tokens[token].headers, **extra}

    def post(self, path: str, body: Any, token: str = "all", **kwargs: Any) -> requests.Response:
        headers = {**self.headers(token), **kwargs.pop("headers", {})}
        return requests.post(self.url + path, json=body, headers=headers,
                             timeout=kwargs.pop("timeout", HTTP_TIMEOUT), **kwargs)

    def get(self, path: str, token: str | None = "all", **kwargs: Any) -> requests.Response:
        headers = {**(self.headers(token) if token else {}), **kwargs.pop("headers", {})}
        return requests.get(self.url + path, headers=headers, timeout=HTTP_TIMEOUT, **kwargs)

    def log_row(self, response: requests.Response) -> dict[str, Any]:
        return self.appliance.log_row(response.headers["X-Request-ID"])


def build_main_gateway(data_dir: Path, fake: FakeUpstream) -> MainGateway:
    app = Appliance(data_dir)
    app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
    app.provider("echo", type="echo")
    app.provider("slow", base_url=fake.base_url, api_key=UPSTREAM_KEY, timeout_s=0.5)
    ids = {
        "chat": app.endpoint("chat", "/api/chat", "fake"),
        "embed": app.endpoint("embed", "/api/embeddings", "fake", kind="embeddings",
                              model="text-embedding-3-small"),
        "team-chat": app.endpoint("team-chat", "/api/team/chat", "fake", model="gpt-4o"),
        "echo-chat": app.endpoint("echo-chat", "/api/echo/chat", "echo", model="echo-model"),
        "echo-embed": app.endpoint("echo-embed", "/api/echo/embed", "echo", kind="embeddings",
                                   model="echo-embedding"),
        "off": app.endpoint("off", "/api/off", "fake", enabled=False),
        "slow": app.endpoint("slow", "/api/slow", "slow"),
    }
    now = dt.datetime.now(dt.UTC)
    issued = {
        "all": app.token("all"),
        "chat-only": app.token("chat-only", scopes=["chat"]),
        "chat-models": app.token("chat-models", scopes=["chat", "models"]),
        "echo-only": app.token("echo-only", allowed_endpoints=["echo-chat"]),
        "revoked": app.token("revoked"),
        "expired": app.token("expired", expires_at=(now - dt.timedelta(days=1)).isoformat()),
        "expires-later": app.token("expires-later",
                                   expires_at=(now + dt.timedelta(days=1)).isoformat()),
        "net10": app.token("net10", allowed_ips=["10.0.0.0/8"]),
        "net127": app.token("net127", allowed_ips=["127.0.0.0/8"]),
        "rpm3": app.token("rpm3", rpm=3),
        "rpm10": app.token("rpm10", rpm=10),
        "quota5": app.token("quota5", monthly_requests=5),
        "quota-tokens": app.token("quota-tokens", monthly_tokens=100),
        "cli-revoke": app.token("cli-revoke"),
    }
    app.revoke(issued["revoked"])
    app.serve()
    app.wait_for_provider_checks(3)  # the start-up check calls the fake; not the tests' calls
    return MainGateway(app, fake, issued, ids)


@dataclass
class EdgeGateway:
    """An appliance behind a trusted proxy (127.0.0.1), with CORS and a small body limit."""

    appliance: Appliance
    tokens: dict[str, IssuedToken]

    @property
    def url(self) -> str:
        return self.appliance.url

    def post(self, path: str, body: Any, token: str = "all", forwarded_for: str | None = None,
             **kwargs: Any) -> requests.Response:
        headers = {**self.tokens[token].headers, **kwargs.pop("headers", {})}
        if forwarded_for is not None:
            headers["X-Forwarded-For"] = forwarded_for
        return requests.post(self.url + path, json=body, headers=headers, timeout=HTTP_TIMEOUT,
                             **kwargs)


def build_edge_gateway(data_dir: Path) -> EdgeGateway:
    app = Appliance(data_dir)
    app.provider("echo", type="echo")
    app.endpoint("echo-chat", "/api/chat", "echo", model="echo-model")
    issued = {
        "all": app.token("all"),
        "v6-doc": app.token("v6-doc", allowed_ips=["2001:db8::/32"]),
        "v6-loopback": app.token("v6-loopback", allowed_ips=["::1/128"]),
        "net10": app.token("net10", allowed_ips=["10.0.0.0/8"]),
    }
    app.serve(MODELPROXY_TRUSTED_PROXIES="127.0.0.1", MODELPROXY_CORS_ORIGINS=CORS_ORIGIN,
              MODELPROXY_MAX_BODY_BYTES=str(EDGE_BODY_LIMIT))
    return EdgeGateway(app, issued)


def shared_server(tmp_path_factory: pytest.TempPathFactory, name: str,
                  build: Callable[[Path, FakeUpstream], Any]) -> Iterator[Any]:
    """A session-wide server built by `build` on its own fake upstream; closed at the end."""
    with FakeUpstream() as fake:
        built = build(tmp_path_factory.mktemp(name), fake)
        try:
            yield built
        finally:
            built.appliance.close()


def fresh(shared: Any) -> Any:
    """The shared server, its fake upstream back to normal and forgetful, for one test."""
    shared.fake.reset()
    shared.fake.clear()
    return shared


@pytest.fixture(scope="session")
def _main_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainGateway]:
    yield from shared_server(tmp_path_factory, "main-gateway", build_main_gateway)


@pytest.fixture
def gateway(_main_gateway: MainGateway) -> MainGateway:
    return fresh(_main_gateway)


@pytest.fixture(scope="session")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeGateway]:
    gw = build_edge_gateway(tmp_path_factory.mktemp("edge-gateway"))
    try:
        yield gw
    finally:
        gw.appliance.close()


# --- reading responses ---------------------------------------------------------------------


def chat_body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def assert_error(response: requests.Response, status: int, code: str | set[str],
                 mentions: str | None = None) -> dict[str, Any]:
    """The response is `status` with an OpenAI-shaped error of `code` (or one of a set of
    codes) whose message mentions `mentions`; returns the error object."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("X-Request-ID"), "error responses carry X-Request-ID too"
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert error["code"] in ({code} if isinstance(code, str) else code), error
    if mentions is not None:
        assert mentions.lower() in error["message"].lower(), error
    assert "Traceback" not in response.text and UPSTREAM_KEY not in response.text
    return error


def sse_data(response: requests.Response) -> list[str]:
    """The `data:` payloads of an event stream, in order."""
    text = response.content.decode()
    return [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]


def chunks_of(payloads: list[str]) -> list[dict[str, Any]]:
    return [json.loads(p) for p in payloads if p != "[DONE]"]


def streamed_text(payloads: list[str]) -> str:
    return "".join(choice["delta"].get("content") or ""
                   for chunk in chunks_of(payloads) for choice in chunk.get("choices", []))
