"""The request log through the admin API: filters, keyset pagination (every row once,
newest first, stable while new rows arrive) and the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.server.admin_fixtures import (  # noqa: E402
    AdminAppliance,
    AdminClient,
    assert_api_error,
    build_admin_appliance,
    chat,
)

LOG_FIELDS = {"id", "request_id", "time", "token_id", "token", "endpoint_id", "endpoint",
              "provider_id", "model", "status", "latency_ms", "ttfb_ms", "prompt_tokens",
              "completion_tokens", "usage_estimated", "client_ip", "stream", "error"}
CSV_HEADER = ["time", "request_id", "token", "endpoint", "model", "status", "latency_ms",
              "ttfb_ms", "prompt_tokens", "completion_tokens", "usage_estimated", "client_ip",
              "stream", "error", "client_dialect", "provider_dialect", "agent_session",
              "target_id", "cached_tokens", "cost", "attempts", "attempt_log"]


@dataclass
class Logged:
    env: AdminAppliance
    root: AdminClient
    tokens: dict[str, dict[str, Any]]
    endpoints: dict[str, dict[str, Any]]
    rows: list[dict[str, Any]]  # every row after the traffic, newest first


def _key(row: dict[str, Any]) -> tuple[str, int]:
    return row["time"], row["id"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    """22 requests: 10 good ones by token 1 to `one` (request ids logs-one-0..9), 6 good
    ones by token 2 to `two`, 3 by token 2 to the disabled `off` (404), 2 by token 1 to
    an unknown path (404) and one without a token (401)."""
    env = build_admin_appliance(tmp_path_factory.mktemp("logs"))
    try:
        root = env.admin
        assert root is not None
        echo = env.provider_ids["echo"]
        endpoints = {"one": root.create_endpoint(echo, name="logs-one", model="model-one"),
                     "two": root.create_endpoint(echo, name="logs-two", model="model-two"),
                     "off": root.create_endpoint(echo, name="logs-off", enabled=False)}
        tokens = {n: root.create_token(name=f"logs-token-{n}") for n in ("1", "2", "3")}
        statuses = []
        for i in range(10):
            statuses.append(chat(env.url, tokens["1"]["token"], endpoints["one"]["path"],
                                 headers={"X-Request-ID": f"logs-one-{i}"}).status_code)
        for _ in range(6):
            statuses.append(chat(env.url, tokens["2"]["token"],
                                 endpoints["two"]["path"]).status_code)
        for _ in range(3):
            statuses.append(chat(env.url, tokens["2"]["token"],
                                 endpoints["off"]["path"]).status_code)
        for _ in range(2):
            statuses.append(chat(env.url, tokens["1"]["token"], "/api/logs-nowhere").status_code)
        statuses.append(requests.post(env.url + endpoints["one"]["path"], timeout=10,
                                      json={"messages": []}).status_code)
        assert statuses == [200] * 16 + [404] * 5 + [401]
        rows = root.wait_for_log_rows(22)
        yield Logged(env, root, tokens, endpoints, rows)
    finally:
        env.appliance.close()


def test_rows_have_the_fields_and_come_newest_first(logged: Logged) -> None:
    rows = logged.rows
    assert len(rows) == 22
    for row in rows:
        assert set(row) >= LOG_FIELDS, set(row)
    assert [_key(r) for r in rows] == sorted((_key(r) for r in rows), reverse=True)
    first = next(r for r in rows if r["request_id"] == "logs-one-0")
    assert (first["token"], first["token_id"]) == ("logs-token-1", logged.tokens["1"]["id"])
    assert (first["endpoint"], first["endpoint_id"]) == ("logs-one",
                                                         logged.endpoints["one"]["id"])
    assert (first["model"], first["status"], first["client_ip"], first["error"]) == (
        "model-one", 200, "127.0.0.1", None)
    assert first["prompt_tokens"] > 0 and first["completion_tokens"] > 0
    assert first["provider_id"] == logged.env.provider_ids["echo"]
    newest = rows[0]
    assert newest["status"] == 401 and newest["token_id"] is None and newest["error"]


def _ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


Ids = dict[str, int]
Row = dict[str, Any]


@pytest.mark.parametrize(("filters", "expected"), [
    (lambda i: {"token_id": i["t1"]}, lambda r, i: r["token_id"] == i["t1"]),
    (lambda i: {"token_id": i["t2"]}, lambda r, i: r["token_id"] == i["t2"]),
    (lambda i: {"token_id": i["t3"]}, lambda r, i: False),
    (lambda i: {"endpoint_id": i["two"]}, lambda r, i: r["endpoint_id"] == i["two"]),
    (lambda i: {"model": "model-one"}, lambda r, i: r["model"] == "model-one"),
    (lambda i: {"status": "4xx"}, lambda r, i: 400 <= r["status"] < 500),
    (lambda i: {"status": "2xx"}, lambda r, i: 200 <= r["status"] < 300),
    (lambda i: {"status": "5xx"}, lambda r, i: r["status"] >= 500),
    (lambda i: {"status": "error"}, lambda r, i: r["status"] >= 400),
    (lambda i: {"status": "404"}, lambda r, i: r["status"] == 404),
    (lambda i: {"request_id": "logs-one-3"}, lambda r, i: r["request_id"] == "logs-one-3"),
    (lambda i: {"q": "disabled"}, lambda r, i: "disabled" in (r["error"] or "")),
    (lambda i: {"token_id": i["t2"], "status": "4xx"},
     lambda r, i: r["token_id"] == i["t2"] and r["status"] >= 400),
], ids=["token 1", "token 2", "token 3", "endpoint", "model", "4xx", "2xx", "5xx", "error",
        "404", "request_id", "q", "token and status"])
def test_filters(logged: Logged, filters: Callable[[Ids], dict[str, Any]],
                 expected: Callable[[Row, Ids], bool]) -> None:
    ids = {"t1": logged.tokens["1"]["id"], "t2": logged.tokens["2"]["id"],
           "t3": logged.tokens["3"]["id"], "two": logged.endpoints["two"]["id"]}
    got = logged.root.ok("GET", "logs", params={**filters(ids), "limit": 1000})
    assert got["next_cursor"] is None
    assert _ids(got["items"]) == _ids([r for r in logged.rows if expected(r, ids)])


def test_filter_counts(logged: Logged) -> None:
    def count(**params: Any) -> int:
        return len(logged.root.log_rows(**params))

    assert count(token_id=logged.tokens["1"]["id"]) == 12
    assert count(token_id=logged.tokens["2"]["id"]) == 9
    assert count(status="4xx") == 6
    assert count(status="2xx") == 16
    assert count(status="404") == 5
    assert count(q="disabled") == 3
    assert count(request_id="logs-one-3") == 1
    assert count(token_id=logged.tokens["2"]["id"], status="4xx") == 3
    newest = logged.rows[0]["time"]
    assert count(**{"from": "2100-01-01T00:00:00Z"}) == 0
    assert count(to="2000-01-01T00:00:00Z") == 0
    assert count(**{"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}) == 22
    assert count(to=newest) == len([r for r in logged.rows if r["time"] < newest])


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "teapot"}, "status"),
    ({"limit": "0"}, "limit"),
    ({"limit": "5000"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"token_id": "x"}, "token_id"),
    ({"from": "last week"}, "from"),
])
def test_bad_log_parameters_are_400(logged: Logged, params: dict[str, str], field: str) -> None:
    assert_api_error(logged.root.get("logs", params=params), 400, mentions=field)


@pytest.mark.parametrize("params", [{"status": "²"}, {"status": "99999999999999999999"}])
def test_odd_status_filters_are_400_not_500(logged: Logged, params: dict[str, str]) -> None:
    assert_api_error(logged.root.get("logs", params=params), 400, mentions="status")


def _walk(root: AdminClient, limit: int, **filters: Any) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = root.ok("GET", "logs", params=params)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return pages
        assert len(pages) < 100


@pytest.mark.parametrize(("limit", "filters"), [
    (5, {}), (1, {}), (4, {"status": "2xx"}), (3, {"token_id": "T1"}), (22, {}), (21, {}),
])
def test_pages_cover_every_row_exactly_once(logged: Logged, limit: int,
                                            filters: dict[str, str]) -> None:
    filters = {k: (logged.tokens["1"]["id"] if v == "T1" else v) for k, v in filters.items()}
    everything = logged.root.ok("GET", "logs", params={**filters, "limit": 1000})["items"]
    pages = _walk(logged.root, limit, **filters)
    assert all(len(p) == limit for p in pages[:-1]) and 0 < len(pages[-1]) <= limit
    walked = [r for p in pages for r in p]
    assert _ids(walked) == _ids(everything)
    assert len(set(_ids(walked))) == len(walked)
    assert len(pages) == -(-len(everything) // limit)


def test_csv_export(logged: Logged) -> None:
    def export(**params: Any) -> list[list[str]]:
        response = logged.root.get("logs/export.csv", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(response.text)))

    everything = export()
    assert everything[0] == CSV_HEADER
    assert len(everything) == 1 + 22
    by_request = {line[1]: dict(zip(CSV_HEADER, line, strict=True)) for line in everything[1:]}
    sample = by_request["logs-one-4"]
    assert (sample["token"], sample["endpoint"], sample["model"], sample["status"]) == (
        "logs-token-1", "logs-one", "model-one", "200")

    one = logged.tokens["1"]["id"]
    filtered = export(token_id=one)
    rows = logged.root.log_rows(token_id=one)
    assert filtered[0] == CSV_HEADER and len(filtered) == 1 + len(rows) == 13
    assert [line[1] for line in filtered[1:]] == [r["request_id"] for r in rows]
    failed = export(status="4xx")
    assert len(failed) == 1 + 6 and all(line[5].startswith("4") for line in failed[1:])
    assert export(request_id="logs-one-7")[1][1] == "logs-one-7"
    assert export(**{"from": "2100-01-01T00:00:00Z"}) == [CSV_HEADER]


def test_csv_export_refuses_bad_filters_with_a_json_400(logged: Logged) -> None:
    response = logged.root.get("logs/export.csv", params={"status": "teapot"})
    assert_api_error(response, 400, mentions="status")
    assert_api_error(logged.root.get("logs/export.csv", params={"from": "soon"}), 400,
                     mentions="from")


def test_pagination_is_stable_while_new_rows_arrive(logged: Logged) -> None:
    """Runs last in this module: it adds rows."""
    root = logged.root
    before = root.ok("GET", "logs", params={"limit": 1000})["items"]
    first = root.ok("GET", "logs", params={"limit": 5})
    assert _ids(first["items"]) == _ids(before[:5])
    token = logged.tokens["3"]["token"]
    for i in range(4):
        assert chat(logged.env.url, token, logged.endpoints["two"]["path"],
                    headers={"X-Request-ID": f"logs-late-{i}"}).status_code == 200
    root.wait_for_log_rows(4, token_id=logged.tokens["3"]["id"])
    rest, cursor = [], first["next_cursor"]
    while cursor:
        page = root.ok("GET", "logs", params={"limit": 5, "cursor": cursor})
        rest += page["items"]
        cursor = page["next_cursor"]
    walked = first["items"] + rest
    assert _ids(walked) == _ids(before), "no row twice, none skipped"
    assert not any(r["request_id"].startswith("logs-late-") for r in rest)
    newest = root.ok("GET", "logs", params={"limit": 4})["items"]
    assert sorted(r["request_id"] for r in newest) == [f"logs-late-{i}" for i in range(4)]
