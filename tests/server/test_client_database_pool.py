"""More requests needing the database at once than the server has pooled connections (32
on PostgreSQL): each request of a token with a quota reads the month's usage and writes its
row there. Requests wait for a connection; none is refused or loses its row for it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from threading import Barrier

import peewee as pw
import pytest
import requests

from app.models import RequestLog, UsageDaily
from server.logwriter import UNWRITTEN_FILE
from tests.conftest import POSTGRES_UP, PostgresSchema
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import UPSTREAM_KEY, Appliance, IssuedToken, chat_body, wait_for

CLIENTS = 120  # each with a token of its own, so no two share a quota's gate


@dataclass
class ManyQuotaTokens:
    app: Appliance
    tokens: list[IssuedToken]
    endpoint_id: int


@pytest.fixture(scope="module")
def many_quota_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManyQuotaTokens]:
    if not POSTGRES_UP:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    with PostgresSchema() as schema, FakeUpstream() as fake:
        app = Appliance(tmp_path_factory.mktemp("many-quota-tokens"), schema.url)
        try:
            app.provider("slow", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            endpoint_id = app.endpoint("chat", "/api/chat", "slow")
            tokens = [app.token(f"quota-{i}", monthly_requests=100, monthly_tokens=100_000)
                      for i in range(CLIENTS)]
            app.serve()
            app.wait_for_provider_checks(1)
            for token in tokens:  # each checked once (bcrypt), one after another: many new
                # tokens at once from one address are throttled as a guessing flood would be
                assert requests.get(app.url + "/api/models", headers=token.headers,
                                    timeout=10).status_code == 200
            fake.set_delay(0.3)  # every request is in flight at once
            yield ManyQuotaTokens(app, tokens, endpoint_id)
        finally:
            app.close()


def _each_token_at_once(setup: ManyQuotaTokens) -> list[requests.Response]:
    start = Barrier(len(setup.tokens))

    def one(token: IssuedToken) -> requests.Response:
        start.wait(timeout=10)
        return requests.post(setup.app.url + "/api/chat", json=chat_body("hi", max_tokens=50),
                             headers=token.headers, timeout=30)

    with ThreadPoolExecutor(max_workers=len(setup.tokens)) as pool:
        return list(pool.map(one, setup.tokens))


def _logged(app: Appliance, request_ids: list[str]) -> Counter[str]:
    with app.session():
        return Counter(r.request_id for r in
                       RequestLog.select(RequestLog.request_id)
                       .where(RequestLog.request_id.in_(request_ids)))


def _rollup_requests(app: Appliance, endpoint_id: int) -> int:
    with app.session():
        return int(UsageDaily.select(pw.fn.SUM(UsageDaily.requests))
                   .where(UsageDaily.endpoint_id == endpoint_id).scalar() or 0)


@pytest.mark.postgres
def test_many_quota_tokens_at_once_each_get_an_answer_and_one_row(
        many_quota_tokens: ManyQuotaTokens) -> None:
    app = many_quota_tokens.app
    for round_ in (1, 2):  # the first round also loads each token's month
        answers = _each_token_at_once(many_quota_tokens)
        statuses = Counter(r.status_code for r in answers)
        assert statuses == {200: CLIENTS}, (round_, statuses,
                                            {r.text for r in answers if r.status_code != 200})
        ids = [r.headers["X-Request-ID"] for r in answers]
        assert wait_for(lambda ids=ids: len(_logged(app, ids)) == CLIENTS, 10)
        assert set(_logged(app, ids).values()) == {1}
    endpoint_id = many_quota_tokens.endpoint_id
    assert wait_for(lambda: _rollup_requests(app, endpoint_id) == 2 * CLIENTS, 10)
    unwritten = app.data_dir / UNWRITTEN_FILE
    kept = [json.loads(line) for line in unwritten.read_text().splitlines()] \
        if unwritten.exists() else []
    assert kept == []
    with app.session():
        rows = RequestLog.select().count()  # the chat requests' and the warm-up's
    assert wait_for(lambda: _metric(app, "modelproxy_log_rows_written_total") == rows, 5)


def _metric(app: Appliance, name: str) -> float | None:
    """A sample of the server's /metrics (open to loopback)."""
    text = requests.get(app.url + "/metrics", timeout=10).text
    return next((float(line.split()[1]) for line in text.splitlines()
                 if line.startswith(name + " ")), None)
