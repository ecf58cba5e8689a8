"""Monthly budgets in money, end to end: a real server in front of the fake upstream, an
endpoint with prices, tokens and endpoints with budgets. Each request holds its cost at
the highest price before it is forwarded; what is let through never spends past the
budget when every request sends max_tokens and upstream honours it. Crossings of 80 % and
100 % reach a webhook once each, whatever the webhook's failures."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from threading import Barrier
from typing import Any

import peewee as pw
import pytest
import requests

from app.models import BudgetAlert, Endpoint, Token, UsageDaily, utcnow
from app.services import options
from server.client_api.usage import prompt_estimate
from tests.conftest import POSTGRES_UP, PostgresSchema
from tests.fakes.upstream import FakeUpstream
from tests.live import LiveServer
from tests.server.client_fixtures import (
    ACTOR,
    UPSTREAM_KEY,
    Appliance,
    IssuedToken,
    assert_error,
    chat_body,
    wait_for,
)

# USD per million tokens: 1,000 nanos an input token, 2,000 an output token.
PRICE_IN, PRICE_OUT = Decimal("1"), Decimal("2")
MAX_TOKENS = 100
BODY = chat_body("hi", max_tokens=MAX_TOKENS)
PROMPT = prompt_estimate(BODY)  # the hold's prompt; the fake's answer says the same
COST = PROMPT * 1_000 + MAX_TOKENS * 2_000  # nanos: each request's hold and real cost
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "finish_reason": "length",
                       "message": {"role": "assistant", "content": "a long answer"}}],
          "usage": {"prompt_tokens": PROMPT, "completion_tokens": MAX_TOKENS,
                    "total_tokens": PROMPT + MAX_TOKENS}}  # max_tokens honoured
STREAM = chat_body("hi", max_tokens=2, stream=True)
STREAM_HOLD = prompt_estimate(STREAM) * 1_000 + 2 * 2_000
STREAM_COST = 1 * 1_000 + 2 * 2_000  # the echo's usage: a 1-word prompt, a 2-word answer


def usd(nanos: int) -> Decimal:
    return Decimal(nanos) / 1_000_000_000


class Webhook(http.server.ThreadingHTTPServer):
    """A receiver on loopback that answers 500 to the first `failures` POSTs about the
    subject named `failing` (the other tests' alerts are accepted at once)."""

    def __init__(self, failures: int, failing: str) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.failures = failures
        self.failing = failing
        self.tries: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/budget"


class _WebhookHandler(http.server.BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.tries.append(body)
            ok = body["name"] != self.server.failing or self.server.failures <= 0
            self.server.failures -= not ok
            if ok:
                self.server.accepted.append(body)
        self.send_response(204 if ok else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet


@dataclass
class Budgets:
    app: Appliance
    fake: FakeUpstream
    tokens: dict[str, IssuedToken]
    endpoint_ids: dict[str, int]
    webhook: Webhook | None = None

    def post(self, token: str, path: str = "/api/priced", body: Any = BODY,
             **kwargs: Any) -> requests.Response:
        return requests.post(self.app.url + path, json=body, timeout=30,
                             headers=self.tokens[token].headers, **kwargs)


def _set_budget(model: type[pw.Model], row_id: int, nanos: int) -> None:
    model.update(monthly_budget=usd(nanos), updated_at=utcnow()).where(
        model.id == row_id).execute()


def _build(tmp_path_factory: pytest.TempPathFactory, database_url: str | None,
           webhook: Webhook | None) -> Iterator[Budgets]:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path_factory.mktemp("budgets"), database_url)
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            ids = {"priced": app.endpoint("priced", "/api/priced", "fake",
                                          price_input_per_m=PRICE_IN,
                                          price_output_per_m=PRICE_OUT),
                   "shared": app.endpoint("shared", "/api/shared", "fake",
                                          price_input_per_m=PRICE_IN,
                                          price_output_per_m=PRICE_OUT),
                   "unpriced": app.endpoint("unpriced", "/api/unpriced", "fake",
                                            model="no-such-model-anywhere")}
            tokens = {name: app.token(name) for name in
                      ("fifty", "plain", "streams", "alerts", "unpriced", "ten")}
            with app.session():
                _set_budget(Token, tokens["fifty"].id, 50 * COST)
                _set_budget(Token, tokens["alerts"].id, 10 * COST)
                _set_budget(Token, tokens["ten"].id, 10 * COST)
                _set_budget(Token, tokens["streams"].id, STREAM_HOLD + 3 * STREAM_COST)
                _set_budget(Token, tokens["unpriced"].id, 1)
                _set_budget(Endpoint, ids["shared"], 30 * COST)
                if webhook is not None:
                    options.update(app.settings, ACTOR, {"budget_webhook_url": webhook.url})
            app.serve()
            app.wait_for_provider_checks(1)
            yield Budgets(app, fake, tokens, ids, webhook)
        finally:
            app.close()


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook(failures=2, failing="alerts")
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.shutdown()
        hook.server_close()


@pytest.fixture(scope="module")
def budgets(tmp_path_factory: pytest.TempPathFactory, webhook: Webhook) -> Iterator[Budgets]:
    yield from _build(tmp_path_factory, None, webhook)


@pytest.fixture(scope="module")
def budgets_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Budgets]:
    if not POSTGRES_UP:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    with PostgresSchema() as schema:
        yield from _build(tmp_path_factory, schema.url, None)


def _concurrently(budgets: Budgets, token: str, path: str,
                  clients: int = 200) -> list[requests.Response]:
    start = Barrier(clients)

    def one(_: int) -> requests.Response:
        start.wait(timeout=10)
        return budgets.post(token, path)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(one, range(clients)))


def _month_spend(app: Appliance, column: pw.Field, subject_id: int) -> int:
    """What the rollups (which budgets read) say the subject spent, in nanos."""
    with app.session():
        total = UsageDaily.select(pw.fn.SUM(UsageDaily.cost_nanos)).where(
            column == subject_id).scalar()
    return int(total or 0)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize(("token", "path", "subject", "allowed"), [
    ("fifty", "/api/priced", "this token", 50),
    ("plain", "/api/shared", "the endpoint 'shared'", 30),
])
def test_200_concurrent_requests_spend_exactly_what_the_budget_allows(
        request: pytest.FixtureRequest, backend: str, token: str, path: str, subject: str,
        allowed: int) -> None:
    budgets: Budgets = request.getfixturevalue("budgets" if backend == "sqlite"
                                               else "budgets_pg")
    budgets.fake.fail_next(200, ANSWER, count=200)
    budgets.fake.set_delay(0.2)  # a slow model: every request is in flight at once
    try:
        answers = _concurrently(budgets, token, path)
    finally:
        budgets.fake.reset()
    assert Counter(r.status_code for r in answers) == {200: allowed, 429: 200 - allowed}
    refused = next(r for r in answers if r.status_code == 429)
    assert_error(refused, 429, "insufficient_quota", mentions="monthly budget of $")
    assert subject in refused.json()["error"]["message"]
    column, subject_id = ((UsageDaily.token_id, budgets.tokens[token].id) if token == "fifty"
                          else (UsageDaily.endpoint_id, budgets.endpoint_ids["shared"]))
    assert wait_for(lambda: _month_spend(budgets.app, column, subject_id) == allowed * COST,
                    10)
    after = budgets.post(token, path)
    assert_error(after, 429, "insufficient_quota", mentions="reached")


def test_streamed_requests_are_charged_too(budgets: Budgets) -> None:
    """Each stream holds its prompt's estimate and max_tokens (2) at the prices and is
    charged what its usage says: with a budget of one hold and three costs, a fourth
    stream fits and a fifth does not."""
    answers = [budgets.post("streams", body=STREAM) for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 4 + [429]
    assert all("data: [DONE]" in r.text for r in answers[:4])
    assert "may cost up to $0.0" in answers[4].json()["error"]["message"]
    rows = [budgets.app.log_row(r.headers["X-Request-ID"]) for r in answers[:4]]
    assert [(r["stream"], r["cost_nanos"]) for r in rows] == [(True, STREAM_COST)] * 4
    token = budgets.tokens["streams"]
    assert wait_for(lambda: _month_spend(budgets.app, UsageDaily.token_id, token.id)
                    == 4 * STREAM_COST, 10)


def test_an_unpriced_endpoint_is_let_through_and_costs_nothing(budgets: Budgets) -> None:
    """No target has a price: the budget (a nano, spent at once otherwise) cannot be
    checked, so the request passes and counts as 0."""
    for _ in range(3):
        response = budgets.post("unpriced", "/api/unpriced")
        assert response.status_code == 200, response.text
    row = budgets.app.log_row(response.headers["X-Request-ID"])
    assert row["cost_nanos"] is None and row["completion_tokens"] > 0
    refused = budgets.post("unpriced")  # a priced endpoint: the budget applies
    assert_error(refused, 429, "insufficient_quota", mentions="may cost up to")


def test_each_crossing_reaches_the_webhook_once(budgets: Budgets) -> None:
    """Ten requests of a tenth of the budget each: the 8th crosses 80 %, the 10th 100 %;
    the webhook fails its first two POSTs, and the first alert is retried until it is
    accepted (1 s, then 2 s later): one body per crossing arrives, one row each."""
    hook = budgets.webhook
    assert hook is not None
    budgets.fake.fail_next(200, ANSWER, count=10)
    statuses = [budgets.post("alerts").status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    token = budgets.tokens["alerts"]

    def bodies(of: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [b for b in of if (b["subject"], b["id"]) == ("token", token.id)]

    assert wait_for(lambda: len(bodies(hook.accepted)) == 2, 15), hook.tries
    month = dt.date.today().replace(day=1).isoformat()
    assert bodies(hook.accepted) == [
        {"event": "budget.threshold", "subject": "token", "id": token.id, "name": "alerts",
         "threshold": threshold, "budget": float(usd(10 * COST)),
         "spent": float(usd(spent * COST)), "month": month, "currency": "USD"}
        for threshold, spent in ((80, 8), (100, 10))]
    assert len(bodies(hook.tries)) == 4  # 80 %: failed, failed, accepted; 100 %: accepted

    def alert_rows() -> list[tuple[int, int, bool]]:
        with budgets.app.session():
            rows = BudgetAlert.select().where(BudgetAlert.subject_id == token.id,
                                              BudgetAlert.subject == "token")
            return [(r["threshold"], r["tries"], r["sent_at"] is not None)
                    for r in rows.order_by(BudgetAlert.threshold).dicts()]

    # The sender records an accepted POST just after the webhook took it.
    expected = [(80, 3, True), (100, 1, True)]
    assert wait_for(lambda: alert_rows() == expected, 5), alert_rows()


def test_sequential_use_across_two_servers_stops_at_the_budget(budgets_pg: Budgets) -> None:
    """Each request reads the month's spend again and writes its row before its answer
    ends: requests alternating between two servers spend exactly the budget."""
    app = budgets_pg.app
    other = LiveServer(app.data_dir, app.database_url)
    other.env = app.live.env if app.live else other.env
    other.start()
    try:
        budgets_pg.fake.fail_next(200, ANSWER, count=10)
        headers = budgets_pg.tokens["ten"].headers
        statuses = [requests.post((app.url, other.url)[i % 2] + "/api/priced", json=BODY,
                                  headers=headers, timeout=10).status_code
                    for i in range(14)]
    finally:
        other.stop()
    assert statuses == [200] * 10 + [429] * 4
    assert _month_spend(app, UsageDaily.token_id, budgets_pg.tokens["ten"].id) == 10 * COST
