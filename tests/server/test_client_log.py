"""The request log: one row per request with the right fields, as the database, `modelproxy
logs` and `modelproxy usage` show it after a known mix of traffic and a graceful stop."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import (
    UPSTREAM_KEY,
    Appliance,
    IssuedToken,
    chat_body,
    chunks_of,
    sse_data,
)

LOGS_FIELDS = {"request_id", "time", "token", "endpoint", "model", "status", "latency_ms",
               "prompt_tokens", "completion_tokens", "usage_estimated", "client_ip", "error"}


@dataclass(frozen=True)
class Sent:
    """One request of the traffic, as its client saw it."""

    request_id: str
    status: int
    endpoint: str | None
    model: str | None
    token: bool  # sent with the ledger token
    stream: bool
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Ledger:
    appliance: Appliance
    token: IssuedToken
    endpoint_ids: dict[str, int]
    sent: list[Sent]
    exit_code: int


def _usage(response: requests.Response, stream: bool) -> tuple[int, int]:
    if response.status_code != 200:
        return 0, 0
    if stream:
        usage = next(c["usage"] for c in chunks_of(sse_data(response)) if c.get("usage"))
    else:
        usage = response.json().get("usage") or {}
    return usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A fresh appliance, a known mix of traffic, then SIGTERM (which flushes the log)."""
    with FakeUpstream() as fake:
        app = Appliance(tmp_path_factory.mktemp("ledger"))
        app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
        app.provider("echo", type="echo")
        ids = {"chat": app.endpoint("chat", "/api/chat", "fake"),
               "embed": app.endpoint("embed", "/api/embeddings", "fake", kind="embeddings",
                                     model="text-embedding-3-small"),
               "echo-chat": app.endpoint("echo-chat", "/api/echo", "echo", model="echo-model")}
        token = app.token("ledger-token")
        app.serve()
        sent: list[Sent] = []
        auth = token.headers

        def send(method: str, path: str, body: Any = None, *, endpoint: str | None,
                 model: str | None, stream: bool = False, headers: dict | None = None) -> None:
            headers = auth if headers is None else headers
            response = requests.request(method, app.url + path, json=body, headers=headers,
                                        timeout=10)
            sent.append(Sent(response.headers["X-Request-ID"], response.status_code, endpoint,
                             model, "Authorization" in headers, stream, *_usage(response, stream)))

        try:
            send("POST", "/api/chat", chat_body("one two three"), endpoint="chat",
                 model="gpt-4o-mini", headers={**auth, "X-Request-ID": "ledger-first"})
            send("POST", "/v1/chat/completions", {**chat_body("via v1"), "model": "chat"},
                 endpoint="chat", model="gpt-4o-mini")
            send("POST", "/api/chat", chat_body("a streamed one", stream=True,
                                                stream_options={"include_usage": True}),
                 endpoint="chat", model="gpt-4o-mini", stream=True)
            send("POST", "/api/embeddings", {"input": ["a b", "c"]}, endpoint="embed",
                 model="text-embedding-3-small")
            send("POST", "/api/echo", chat_body("offline words"), endpoint="echo-chat",
                 model="echo-model")
            send("POST", "/api/chat", chat_body(), endpoint=None, model=None, headers={})
            fake.fail_next(500)
            send("POST", "/api/chat", chat_body("fails upstream"), endpoint="chat",
                 model="gpt-4o-mini")
            send("GET", "/v1/models", endpoint=None, model=None)
            exit_code = app.stop()
            yield Ledger(app, token, ids, sent, exit_code)
        finally:
            app.close()


def test_traffic_went_as_planned(ledger: Ledger) -> None:
    assert [s.status for s in ledger.sent] == [200, 200, 200, 200, 200, 401, 502, 200]
    assert ledger.exit_code == 0


def test_one_row_per_request_with_the_right_fields(ledger: Ledger) -> None:
    rows = {row["request_id"]: row for row in ledger.appliance.log_rows()}
    assert len(rows) == len(ledger.appliance.log_rows()) == len(ledger.sent)
    assert set(rows) == {s.request_id for s in ledger.sent}
    assert "ledger-first" in rows
    for sent in ledger.sent:
        row = rows[sent.request_id]
        assert row["status"] == sent.status
        assert row["token_id"] == (ledger.token.id if sent.token else None)
        expected_endpoint = ledger.endpoint_ids[sent.endpoint] if sent.endpoint else None
        assert row["endpoint_id"] == expected_endpoint
        assert row["model"] == sent.model
        assert (row["prompt_tokens"], row["completion_tokens"]) == (
            sent.prompt_tokens, sent.completion_tokens), sent
        assert row["usage_estimated"] is False
        assert row["client_ip"] == "127.0.0.1"
        assert row["stream"] is sent.stream
        assert row["latency_ms"] > 0
        assert (row["error"] is None) == (sent.status < 400), row
        if sent.status == 200 and sent.endpoint:
            assert row["provider_id"] and row["ttfb_ms"] is not None


def test_answered_requests_have_upstream_usage(ledger: Ledger) -> None:
    served = [s for s in ledger.sent if s.status == 200 and s.endpoint]
    assert all(s.prompt_tokens > 0 for s in served)
    assert all(s.completion_tokens > 0 for s in served if s.endpoint != "embed")


def test_logs_cli_shows_the_rows_newest_first(ledger: Ledger) -> None:
    items = ledger.appliance.cli_json("logs", "--limit", "100")["items"]
    assert [i["request_id"] for i in items] == [s.request_id for s in reversed(ledger.sent)]
    for item in items:
        assert set(item) >= LOGS_FIELDS, set(item)
    first = items[-1]
    assert first["request_id"] == "ledger-first"
    assert (first["token"], first["endpoint"], first["model"]) == (
        "ledger-token", "chat", "gpt-4o-mini")
    assert (first["status"], first["client_ip"], first["error"]) == (200, "127.0.0.1", None)
    assert first["prompt_tokens"] == ledger.sent[0].prompt_tokens
    failed = next(i for i in items if i["status"] == 502)
    assert failed["error"] and UPSTREAM_KEY not in failed["error"]


def test_logs_cli_limit(ledger: Ledger) -> None:
    items = ledger.appliance.cli_json("logs", "--limit", "3")["items"]
    assert [i["request_id"] for i in items] == [s.request_id for s in ledger.sent[::-1][:3]]


def test_usage_cli_totals_match_the_traffic(ledger: Ledger) -> None:
    usage = ledger.appliance.cli_json("usage")
    assert usage["requests"] == len(ledger.sent)
    assert usage["errors"] == sum(s.status >= 400 for s in ledger.sent)
    assert usage["prompt_tokens"] == sum(s.prompt_tokens for s in ledger.sent)
    assert usage["completion_tokens"] == sum(s.completion_tokens for s in ledger.sent)
    mine = next(t for t in usage["by_token"] if t["token_id"] == ledger.token.id)
    assert mine["name"] == "ledger-token"
    assert mine["requests"] == sum(s.token for s in ledger.sent)
    by_endpoint = {e["name"]: e["requests"] for e in usage["by_endpoint"] if e["name"]}
    assert by_endpoint == {"chat": 4, "embed": 1, "echo-chat": 1}
