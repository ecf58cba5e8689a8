"""A server whose endpoints route to several targets, on two fake upstreams: `first`
(most endpoints' first target) and `second` (their fallback). Each test uses endpoints of
its own, so one test's cool-downs never reach another's."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from app.models import Endpoint, EndpointTarget
from app.services import options
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import ACTOR, Appliance, IssuedToken

KEY = "sk-route-upstream-1234"
# Endpoint name -> its targets (provider, priority, weight), first to last.
ROUTES: dict[str, list[tuple[str, int, int]]] = {
    **{f"fall-{kind}": [("first", 0, 1), ("second", 1, 1)]
       for kind in ("500", "429", "529", "503", "401", "drop", "400", "mid", "stream",
                    "messages-stream")},
    "fall-refused": [("refused", 0, 1), ("second", 1, 1)],
    "fall-timeout": [("tight", 0, 1), ("second", 1, 1)],
    "fall-anthropic": [("claude", 0, 1), ("second", 1, 1)],
    "all-fail": [("first", 0, 1), ("first-again", 1, 1), ("first-third", 2, 1)],
    "cool": [("first", 0, 1), ("second", 1, 1)],
    "retry-after": [("first", 0, 1), ("second", 1, 1)],
    "weights": [("first", 0, 1), ("second", 0, 3)],
    "budget-time": [("tight", 0, 1), ("second", 1, 1)],
    "health": [("first", 0, 1), ("second", 1, 1)],
    "mid-cool": [("first", 0, 1), ("second", 1, 1)],
    # Storms (test_route_storms.py): `first` flaps or fails, `second` answers.
    **{name: [("first", 0, 1), ("second", 0, 1), ("first-again", 1, 1)]
       for name in ("storm-flap", "storm-flap-stream")},
    "storm-down": [("first", 0, 1), ("first-again", 0, 1), ("second", 1, 1)],
    # Clients that leave during a fallback (test_route_clients.py).
    "leave-slow": [("first", 0, 1), ("second", 1, 1)],
    "leave-fast": [("first", 0, 1), ("second", 1, 1)],
    # A hostile Retry-After each (test_route_clients.py): both targets on `first`.
    **{f"hostile-{n}": [("first", 0, 1), ("first-again", 1, 1)] for n in range(10)},
    # A 200 whose body is no answer (an error object), in each dialect.
    "fall-shape": [("error-200", 0, 1), ("second", 1, 1)],
    "fall-shape-claude": [("claude", 0, 1), ("second", 1, 1)],
    # A 200 stream whose first data event is the provider's error (test_route_first_event.py).
    "first-error": [("error-first", 0, 1), ("second", 1, 1)],
    "first-error-comments": [("error-first-comments", 0, 1), ("second", 1, 1)],
    "first-error-claude": [("claude-error-first", 0, 1), ("second", 1, 1)],
    "first-error-oai": [("oai-error-first", 0, 1), ("second", 1, 1)],
    "first-error-client": [("client-error-first", 0, 1), ("second", 1, 1)],
    "first-error-all": [("error-first", 0, 1), ("claude-error-first", 1, 1)],
    "later-error": [("error-event", 0, 1), ("second", 1, 1)],
    "opened-error-claude": [("claude-error-after-opening", 0, 1), ("second", 1, 1)],
    "opened-error-oai": [("oai-error-after-opening", 0, 1), ("second", 1, 1)],
    "comments-first": [("comments-first", 0, 1), ("second", 1, 1)],
    "comments-slow": [("comments-slow", 0, 1), ("second", 1, 1)],
}


@dataclass
class Routed:
    appliance: Appliance
    first: FakeUpstream
    second: FakeUpstream
    token: IssuedToken

    def post(self, path: str, body: Any, **headers: str) -> requests.Response:
        return requests.post(self.appliance.url + path, json=body, timeout=30,
                             headers={"Authorization": f"Bearer {self.token.plaintext}",
                                      **headers})

    def post_streaming(self, path: str, body: Any) -> requests.Response:
        """`post`, returned once the headers are in (use it as a context manager)."""
        return requests.post(self.appliance.url + path, json=body, timeout=30, stream=True,
                             headers={"Authorization": f"Bearer {self.token.plaintext}"})

    def chat(self, endpoint: str, text: str = "hi", **extra: Any) -> requests.Response:
        return self.post("/v1/chat/completions",
                         {"model": endpoint, "messages": [{"role": "user", "content": text}],
                          **extra})

    def row(self, response: requests.Response) -> dict[str, Any]:
        return self.appliance.log_row(response.headers["X-Request-ID"])

    def target_ids(self, endpoint: str) -> list[int]:
        with self.appliance.session():
            row = Endpoint.get(Endpoint.name == endpoint)
            return [t.id for t in EndpointTarget.select().where(EndpointTarget.endpoint == row)
                    .order_by(EndpointTarget.priority, EndpointTarget.id)]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(data_dir: Path, first: FakeUpstream, second: FakeUpstream) -> Routed:
    app = Appliance(data_dir)
    ids = {
        "first": app.provider("first", base_url=first.base_url, api_key=KEY),
        "first-again": app.provider("first-again", base_url=first.base_url, api_key=KEY),
        "first-third": app.provider("first-third", base_url=first.base_url, api_key=KEY),
        "second": app.provider("second", base_url=second.base_url, api_key=KEY),
        "refused": app.provider("refused", base_url=f"http://127.0.0.1:{closed_port()}/v1",
                                api_key=KEY),
        "tight": app.provider("tight", base_url=first.base_url, api_key=KEY, timeout_s=0.5),
        "claude": app.provider("claude", type="anthropic", base_url=first.base_url,
                               api_key=KEY),
        "error-200": app.provider("error-200", base_url=first.fault_url("error_200"),
                                  api_key=KEY),
        **first_event_providers(app, first),
    }
    for index, (name, targets) in enumerate(ROUTES.items()):
        provider, _, _ = targets[0]
        endpoint_id = app.endpoint(name, f"/api/route/{index}", provider, model=f"{name}-m0")
        with app.session():
            first_target = EndpointTarget.get(EndpointTarget.endpoint == endpoint_id)
            first_target.weight = targets[0][2]
            first_target.save()
            for n, (other, priority, weight) in enumerate(targets[1:], start=1):
                EndpointTarget.create(endpoint=endpoint_id, provider=ids[other],
                                      model=f"{name}-m{n}", priority=priority, weight=weight)
    with app.session():  # quick cool-downs, so recovery is seen in a test
        options.update(app.settings, ACTOR, {"cooldown_s": 1, "cooldown_failures": 3})
    token = app.token("router", scopes=["all"])
    app.serve()
    app.wait_for_provider_checks(len(ids))  # the refused one records its failure too
    return Routed(app, first, second, token)


def first_event_providers(app: Appliance, first: FakeUpstream) -> dict[str, int]:
    """Providers on `first` whose 200 streams fail in (or only after) their first event,
    or send keep-alive comments before it."""
    kinds = {"error-first": ("error_first", None, "openai_compatible"),
             "error-first-comments": ("error_first", 3, "openai_compatible"),
             "claude-error-first": ("error_first", None, "anthropic"),
             "oai-error-first": ("error_first", None, "openai"),
             "client-error-first": ("client_error_first", None, "openai_compatible"),
             "error-event": ("error_event", None, "openai_compatible"),
             "claude-error-after-opening": ("error_after_opening", None, "anthropic"),
             "oai-error-after-opening": ("error_after_opening", None, "openai"),
             "comments-first": ("comments_first", 2, "openai_compatible"),
             "comments-slow": ("comments_first", 10, "openai_compatible")}
    return {name: app.provider(name, type=type_, base_url=first.fault_url(mode, arg),
                               api_key=KEY, timeout_s=0.5 if name == "comments-slow" else 60)
            for name, (mode, arg, type_) in kinds.items()}


@pytest.fixture(scope="module")
def _routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Routed]:
    with FakeUpstream() as first, FakeUpstream() as second:
        built = build(tmp_path_factory.mktemp("routes"), first, second)
        try:
            yield built
        finally:
            built.appliance.close()


@pytest.fixture
def routed(_routed: Routed) -> Routed:
    for fake in (_routed.first, _routed.second):
        fake.reset()
        fake.clear()
    return _routed
