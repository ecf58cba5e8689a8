"""What a provider says it used: usage that cannot be believed is estimated (and marked so),
an answer of the wrong shape is a 502, and either way a request leaves exactly one row."""

from __future__ import annotations

from typing import Any

import peewee as pw
import pytest
import requests

from app.models import RequestLog, UsageDaily
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import (
    UPSTREAM_KEY,
    Appliance,
    MainGateway,
    assert_error,
    chat_body,
)
from tests.unit.test_usage import BAD_USAGES


def _chat_answer(usage: Any = None, choices: Any = None) -> dict[str, Any]:
    message = {"role": "assistant", "content": "four words of answer"}
    answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]
              if choices is None else choices}
    if usage is not None:
        answer["usage"] = usage
    return answer


def flushed(gateway: MainGateway) -> None:
    """Until every row queued so far is written: a new request's row is waited for (the
    writer keeps the order)."""
    gateway.log_row(gateway.post("/api/echo/chat", chat_body("marker")))


def rows_of(gateway: MainGateway, response: requests.Response) -> list[dict[str, Any]]:
    """Every log row of the response's request."""
    flushed(gateway)
    request_id = response.headers["X-Request-ID"]
    with gateway.appliance.session():
        return list(RequestLog.select().where(RequestLog.request_id == request_id).dicts())


def month_tokens(gateway: MainGateway, token: str) -> int:
    """What the rollups (which quotas read) say the token used."""
    U = UsageDaily
    with gateway.appliance.session():
        total = (U.select(pw.fn.SUM(U.prompt_tokens + U.completion_tokens))
                 .where(U.token_id == gateway.tokens[token].id).scalar())
    return int(total or 0)


@pytest.mark.parametrize("usage", BAD_USAGES)
def test_unbelievable_usage_is_estimated_in_one_row(gateway: MainGateway, usage: Any) -> None:
    flushed(gateway)
    before = month_tokens(gateway, "expires-later")
    gateway.fake.fail_next(200, _chat_answer(usage))
    response = gateway.post("/api/chat", chat_body("hello there"), token="expires-later")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "four words of answer"
    rows = rows_of(gateway, response)
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["status"], row["usage_estimated"]) == (200, True)
    assert row["completion_tokens"] == 5  # "four words of answer": 20 characters
    assert 0 < row["prompt_tokens"] < 100
    # No quota given back, none used up: the rollup grew by the estimate.
    assert month_tokens(gateway, "expires-later") - before == row["prompt_tokens"] + 5


@pytest.mark.parametrize(("answer", "problem"), [
    (_chat_answer({"prompt_tokens": 1}, choices=[{"index": 0, "message": None}]),
     "choices[0].message"),
    (_chat_answer({"prompt_tokens": 1}, choices="none"), "choices"),
    (_chat_answer({"prompt_tokens": 1}, choices=[7]), "choices[0].message"),
    ({"object": "chat.completion", "usage": []}, "choices"),
])
def test_a_chat_answer_of_the_wrong_shape_is_502_in_one_row(
        gateway: MainGateway, answer: dict[str, Any], problem: str) -> None:
    gateway.fake.fail_next(200, answer)
    response = gateway.post("/api/chat", chat_body())
    assert_error(response, 502, "upstream_error", mentions=problem)
    rows = rows_of(gateway, response)
    assert [(r["status"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [
        (502, 0, 0)]


def test_an_embeddings_answer_without_a_data_list_is_502(gateway: MainGateway) -> None:
    gateway.fake.fail_next(200, {"object": "list", "data": None,
                                 "usage": {"prompt_tokens": -5}})
    response = gateway.post("/v1/embeddings", {"model": "embed", "input": "x"})
    assert_error(response, 502, "upstream_error", mentions="data")
    assert [r["status"] for r in rows_of(gateway, response)] == [502]


def test_negative_embeddings_usage_is_estimated(gateway: MainGateway) -> None:
    gateway.fake.fail_next(200, {"object": "list", "model": "m", "usage": {
        "prompt_tokens": -1_000_000, "total_tokens": -1_000_000},
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}]})
    response = gateway.post("/api/embeddings", {"input": "some text to embed"})
    assert response.status_code == 200, response.text
    rows = rows_of(gateway, response)
    assert [(r["status"], r["usage_estimated"], r["completion_tokens"]) for r in rows] == [
        (200, True, 0)]
    assert rows[0]["prompt_tokens"] > 0


def test_an_absurd_count_does_not_stop_the_request_log(tmp_path, database_url: str) -> None:
    """10**15 tokens does not fit PostgreSQL's integer column: believed, it failed every
    batch after it (no row was written again). Not believed, it is estimated."""
    with FakeUpstream() as fake:
        app = Appliance(tmp_path / "data", database_url)
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            app.endpoint("chat", "/api/chat", "fake")
            token = app.token("t")
            app.serve()
            app.wait_for_provider_checks(1)
            fake.fail_next(200, _chat_answer({"prompt_tokens": 10**15, "completion_tokens": 1}))
            sent = [requests.post(app.url + "/api/chat", json=chat_body(), headers=token.headers,
                                  timeout=10) for _ in range(3)]
            assert [r.status_code for r in sent] == [200, 200, 200]
            rows = [app.log_row(r.headers["X-Request-ID"]) for r in sent]
            assert [(r["usage_estimated"], r["completion_tokens"]) for r in rows] == [
                (True, 5), (False, 3), (False, 3)]
        finally:
            app.close()
