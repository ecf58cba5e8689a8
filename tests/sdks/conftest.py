"""One real ModelProxy server for the SDK tests (Python and TypeScript alike).

`sdk_server` (session scope, the fake upstream reset and its recordings cleared before
each test) is a `modelproxy serve` child process, seeded in-process like the client API
tests, in front of a FakeUpstream and the offline echo provider:

- chat        /api/chat         chat        gpt-4o-mini             fake
- embed       /api/embeddings   embeddings  text-embedding-3-small  fake
- echo-chat   /api/echo/chat    chat        echo-model              echo
- echo-embed  /api/echo/embed   embeddings  echo-embedding          echo
- slow        /api/slow         chat        gpt-4o-mini             slow (fake, 0.5 s timeout)

It refuses bodies over `BODY_LIMIT` bytes (413). Each token is named for what it is for;
tokens with a rate limit or a quota are one per test that uses them up, since the
per-minute window and the monthly count outlive a test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.services import options
from tests.fakes.upstream import FakeUpstream, RecordedRequest
from tests.server.client_fixtures import ACTOR, UPSTREAM_KEY, Appliance, wait_for

REPO = Path(__file__).resolve().parents[2]
BODY_LIMIT = 65536

# `make install` puts the Python SDK into the venv (editable). A venv made before the SDK
# existed lacks it: use the same source tree then, rather than fail every other test at
# collection. (test_python_package.py installs it with pip on its own, separately.)
if importlib.util.find_spec("modelproxy") is None:
    sys.path.insert(0, str(REPO / "sdks" / "python" / "src"))

# name -> token fields; every one gets all scopes unless it says otherwise.
TOKENS: dict[str, dict[str, Any]] = {
    "all": {},
    "readme": {},
    "chat-only": {"scopes": ["chat"]},
    "revoked": {},
    "py-rpm": {"rpm": 1},
    "py-quota": {"monthly_requests": 1},
    "ts-rpm": {"rpm": 1},
    "ts-quota": {"monthly_requests": 1},
}


@dataclass
class SdkServer:
    appliance: Appliance
    fake: FakeUpstream
    tokens: dict[str, str]  # name -> plaintext
    token_ids: dict[str, int]  # name -> id
    held: float = 0.0  # the longest delay set on the fake upstream during this test

    def set_delay(self, seconds: float) -> None:
        """The fake upstream waits `seconds` before answering (until the test ends)."""
        self.held = max(self.held, seconds)
        self.fake.set_delay(seconds)

    @property
    def url(self) -> str:
        return self.appliance.url

    @property
    def calls(self) -> list[RecordedRequest]:
        """What reached the fake upstream from clients: its POSTs. (The server's own
        provider checks are GETs of /v1/models.)"""
        return [r for r in self.fake.requests if r.method == "POST"]

    def log_rows(self, request_id: str, count: int = 1,
                 settle: float = 0.0) -> list[dict[str, Any]]:
        """The request-log rows of one request id (one per attempt, in order), once there
        are `count`; read again `settle` seconds later, to see any that should not exist.
        (The server writes its log in batches, at least every 0.25 s.)"""
        rows: list[dict[str, Any]] = []

        def probe() -> bool:
            rows[:] = [r for r in self.appliance.log_rows() if r["request_id"] == request_id]
            return len(rows) >= count

        assert wait_for(probe, 5.0), f"{len(rows)} request-log rows for {request_id}"
        if settle:
            time.sleep(settle)
            probe()
        return rows


    def token_statuses(self, token: str, count: int, settle: float = 0.4) -> list[int]:
        """The statuses of every request made with the named token, in order, once there
        are `count`; read again `settle` seconds later, to see any that should not exist."""
        statuses: list[int] = []
        token_id = self.token_ids[token]

        def probe() -> bool:
            statuses[:] = [r["status"] for r in self.appliance.log_rows()
                           if r["token_id"] == token_id]
            return len(statuses) >= count

        assert wait_for(probe, 5.0), f"{statuses} for token {token}"
        time.sleep(settle)
        probe()
        return statuses


def dead_url() -> str:
    """The URL of a loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def _sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkServer]:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path_factory.mktemp("sdk-server"))
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            app.provider("echo", type="echo")
            app.provider("slow", base_url=fake.base_url, api_key=UPSTREAM_KEY, timeout_s=0.5)
            app.endpoint("chat", "/api/chat", "fake")
            app.endpoint("embed", "/api/embeddings", "fake", kind="embeddings",
                         model="text-embedding-3-small")
            app.endpoint("echo-chat", "/api/echo/chat", "echo", model="echo-model")
            app.endpoint("echo-embed", "/api/echo/embed", "echo", kind="embeddings",
                         model="echo-embedding")
            app.endpoint("slow", "/api/slow", "slow")
            issued = {name: app.token(name, **fields) for name, fields in TOKENS.items()}
            app.revoke(issued["revoked"])
            with app.session():  # one provider check, at start; none while the tests run
                options.update(app.settings, ACTOR, {"provider_check_minutes": 1440})
            app.serve(MODELPROXY_MAX_BODY_BYTES=str(BODY_LIMIT))
            # Let that check (a GET of /v1/models for "fake" and for "slow") pass before any
            # test arms a fault that it could otherwise use up.
            fake.wait_until(lambda f: sum(r.method == "GET" for r in f.requests) >= 2,
                            timeout=5)
            yield SdkServer(app, fake, {n: t.plaintext for n, t in issued.items()},
                            {n: t.id for n, t in issued.items()})
        finally:
            with contextlib.suppress(Exception):
                app.close()


@pytest.fixture
def sdk_server(_sdk_server: SdkServer) -> Iterator[SdkServer]:
    _sdk_server.fake.reset()
    _sdk_server.fake.clear()
    _sdk_server.fake.wait_until(lambda f: f.open_streams == 0, timeout=3)
    yield _sdk_server
    if _sdk_server.held:
        # When a client gives up on a request the fake upstream is holding, the proxy does
        # not close that upstream connection: the fake answers it once the delay is over,
        # using up any fault armed by then. Let such requests finish before the next test.
        time.sleep(_sdk_server.held + 0.3)
        _sdk_server.held = 0.0


def node_environment(server: SdkServer) -> dict[str, str]:
    """What the TypeScript tests are told about the server: its URL and tokens."""
    return {"MODELPROXY_TEST_URL": server.url,
            "MODELPROXY_TEST_TOKENS": json.dumps(server.tokens),
            "MODELPROXY_TEST_DEAD_URL": dead_url(),
            "MODELPROXY_TEST_BODY_LIMIT": str(BODY_LIMIT)}
