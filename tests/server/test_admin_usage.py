"""Usage numbers equal the traffic: a known mix of client requests on a fresh appliance,
then the usage series (totals, group_by, filters, ranges), the overview and the tokens'
month usage are checked against what was sent and what the request log holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.fakes.upstream import FakeUpstream  # noqa: E402
from tests.server.admin_fixtures import (  # noqa: E402
    AdminAppliance,
    AdminClient,
    assert_api_error,
    build_admin_appliance,
    chat,
)

PRICES = {"a": (2.5, 10.0), "b": (1.0, 4.0)}  # per million input / output tokens


@dataclass
class Traffic:
    env: AdminAppliance
    root: AdminClient
    tokens: dict[str, dict[str, Any]]
    endpoints: dict[str, dict[str, Any]]
    statuses: list[int]
    answered_usage: list[tuple[int, int]]  # (prompt, completion) of the 200 answers
    rows: list[dict[str, Any]]

    def rows_where(self, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.rows if all(r[k] == v for k, v in match.items())]


def _sums(rows: list[dict[str, Any]]) -> dict[str, Any]:
    prompt = sum(r["prompt_tokens"] for r in rows)
    completion = sum(r["completion_tokens"] for r in rows)
    return {"requests": len(rows), "errors": sum(r["status"] >= 400 for r in rows),
            "prompt_tokens": prompt, "completion_tokens": completion}


def _cost(rows: list[dict[str, Any]], endpoints: dict[str, dict[str, Any]]) -> float:
    price = {endpoints[k]["id"]: PRICES[k] for k in PRICES}
    return sum((r["prompt_tokens"] * price[r["endpoint_id"]][0]
                + r["completion_tokens"] * price[r["endpoint_id"]][1]) / 1_000_000
               for r in rows)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    """7 good chats to endpoint a (echo) with token 1, 3 to endpoint b (fake upstream) with
    token 2, then one bad request (400) on a with token 1 and one upstream failure (502)
    on b with token 2. Token 3 sends nothing."""
    with FakeUpstream() as fake:
        env = build_admin_appliance(tmp_path_factory.mktemp("usage"), fake)
        try:
            root = env.admin
            assert root is not None
            endpoints = {
                "a": root.create_endpoint(env.provider_ids["echo"], name="usage-a",
                                          model="echo-model", price_input_per_m=PRICES["a"][0],
                                          price_output_per_m=PRICES["a"][1]),
                "b": root.create_endpoint(env.provider_ids["fake"], name="usage-b",
                                          model="gpt-4o-mini",
                                          price_input_per_m=PRICES["b"][0],
                                          price_output_per_m=PRICES["b"][1]),
            }
            tokens = {n: root.create_token(name=f"usage-token-{n}") for n in ("1", "2", "3")}
            answers: list[requests.Response] = []
            for i in range(7):
                answers.append(chat(env.url, tokens["1"]["token"], endpoints["a"]["path"],
                                    "word " * (i + 1)))
            for i in range(3):
                answers.append(chat(env.url, tokens["2"]["token"], endpoints["b"]["path"],
                                    f"fake upstream call {i}"))
            answers.append(requests.post(
                env.url + endpoints["a"]["path"], json={"messages": "not a list"},
                headers={"Authorization": f"Bearer {tokens['1']['token']}"}, timeout=10))
            fake.fail_next(500)
            answers.append(chat(env.url, tokens["2"]["token"], endpoints["b"]["path"]))
            usage = [(a.json()["usage"]["prompt_tokens"], a.json()["usage"]["completion_tokens"])
                     for a in answers if a.status_code == 200]
            rows = root.wait_for_log_rows(len(answers))
            yield Traffic(env, root, tokens, endpoints, [a.status_code for a in answers],
                          usage, rows)
        finally:
            env.appliance.close()


def test_the_traffic_went_as_planned(traffic: Traffic) -> None:
    assert traffic.statuses == [200] * 10 + [400, 502]
    assert len(traffic.rows) == 12
    ok_rows = [r for r in traffic.rows if r["status"] == 200]
    assert sorted((r["prompt_tokens"], r["completion_tokens"]) for r in ok_rows) == sorted(
        traffic.answered_usage), "the log counts what upstream reported"
    assert all(p > 0 and c > 0 for p, c in traffic.answered_usage)


def test_usage_totals_equal_the_log(traffic: Traffic) -> None:
    usage = traffic.root.ok("GET", "usage", params={"range": "24h"})
    assert usage["bucket"] == "hour" and usage["group_by"] is None
    expected = _sums(traffic.rows)
    totals = usage["totals"]
    assert {k: totals[k] for k in expected} == expected
    assert (totals["requests"], totals["errors"]) == (12, 2)
    assert totals["cost"] == pytest.approx(_cost(traffic.rows, traffic.endpoints), abs=2e-6)
    assert totals["cost"] > 0
    # Summed from the costs stored with the rows (at the prices when they were written).
    assert totals["cost"] == pytest.approx(sum(r["cost"] or 0 for r in traffic.rows), abs=2e-6)
    assert (totals["cached_tokens"], totals["unpriced_requests"]) == (0, 0)
    assert totals["p50_ms"] is not None and totals["p95_ms"] >= totals["p50_ms"]
    [series] = usage["series"]
    assert 24 <= len(series["points"]) <= 25
    assert sum(p["requests"] for p in series["points"]) == 12
    assert sum(p["prompt_tokens"] for p in series["points"]) == expected["prompt_tokens"]
    assert series["totals"]["requests"] == 12
    assert [p["t"] for p in series["points"]] == sorted(p["t"] for p in series["points"])


@pytest.mark.parametrize("params", [
    {"range": "7d"}, {"range": "30d", "bucket": "day"}, {"range": "24h", "bucket": "day"},
    {"range": "7d", "bucket": "hour"}, {},
])
def test_other_ranges_and_buckets_count_the_same(traffic: Traffic,
                                                 params: dict[str, str]) -> None:
    usage = traffic.root.ok("GET", "usage", params=params)
    expected = _sums(traffic.rows)
    assert {k: usage["totals"][k] for k in expected} == expected
    if "bucket" in params:
        assert usage["bucket"] == params["bucket"]
    assert sum(p["requests"] for s in usage["series"] for p in s["points"]) == 12


def test_explicit_from_and_to(traffic: Traffic) -> None:
    times = sorted(r["time"] for r in traffic.rows)
    first = dt.datetime.fromisoformat(times[0].replace("Z", "+00:00"))
    around = {"from": (first - dt.timedelta(hours=1)).isoformat(),
              "to": (first + dt.timedelta(hours=1)).isoformat()}
    assert traffic.root.ok("GET", "usage", params=around)["totals"]["requests"] == 12
    before = {"from": (first - dt.timedelta(days=3)).isoformat(),
              "to": (first - dt.timedelta(days=2)).isoformat()}
    empty = traffic.root.ok("GET", "usage", params=before)
    assert empty["totals"]["requests"] == 0 and empty["series"] == []


@pytest.mark.parametrize(("group_by", "expected_keys"), [
    ("token", {"1": 8, "2": 4}),
    ("endpoint", {"a": 8, "b": 4}),
])
def test_group_by_token_and_endpoint(traffic: Traffic, group_by: str,
                                     expected_keys: dict[str, int]) -> None:
    usage = traffic.root.ok("GET", "usage", params={"range": "24h", "group_by": group_by})
    assert usage["group_by"] == group_by
    objects = traffic.tokens if group_by == "token" else traffic.endpoints
    by_key = {s["key"]: s for s in usage["series"]}
    assert set(by_key) == {objects[k]["id"] for k in expected_keys}
    column = f"{group_by}_id"
    for label, count in expected_keys.items():
        series = by_key[objects[label]["id"]]
        assert series["name"] == objects[label]["name"]
        rows = traffic.rows_where(**{column: objects[label]["id"]})
        assert len(rows) == count
        assert {k: series["totals"][k] for k in _sums(rows)} == _sums(rows)
        assert series["totals"]["errors"] == 1
        assert sum(p["requests"] for p in series["points"]) == count
    assert [s["totals"]["requests"] for s in usage["series"]] == [8, 4], "biggest first"
    assert sum(s["totals"]["requests"] for s in usage["series"]) == usage["totals"]["requests"]
    assert sum(s["totals"]["cost"] for s in usage["series"]) == pytest.approx(
        usage["totals"]["cost"], abs=2e-6)
    if group_by == "endpoint":
        for label in expected_keys:
            rows = traffic.rows_where(endpoint_id=traffic.endpoints[label]["id"])
            assert by_key[traffic.endpoints[label]["id"]]["totals"]["cost"] == pytest.approx(
                _cost(rows, traffic.endpoints), abs=2e-6)


def test_group_by_model_and_provider(traffic: Traffic) -> None:
    models = traffic.root.ok("GET", "usage", params={"group_by": "model"})
    assert {s["key"]: s["totals"]["requests"] for s in models["series"]} == {
        "echo-model": 8, "gpt-4o-mini": 4}
    providers = traffic.root.ok("GET", "usage", params={"group_by": "provider"})
    ids = traffic.env.provider_ids
    assert {s["key"]: s["totals"]["requests"] for s in providers["series"]} == {
        ids["echo"]: 8, ids["fake"]: 4}
    assert {s["key"]: s["name"] for s in providers["series"]} == {ids["echo"]: "echo",
                                                                   ids["fake"]: "fake"}


def test_usage_filters(traffic: Traffic) -> None:
    def total(**params: Any) -> dict[str, Any]:
        return traffic.root.ok("GET", "usage", params={"range": "24h", **params})["totals"]

    one = traffic.tokens["1"]["id"]
    assert total(token_id=one)["requests"] == 8
    assert total(token_id=one)["prompt_tokens"] == _sums(
        traffic.rows_where(token_id=one))["prompt_tokens"]
    assert total(endpoint_id=traffic.endpoints["b"]["id"])["requests"] == 4
    assert total(provider_id=traffic.env.provider_ids["echo"])["requests"] == 8
    assert total(model="gpt-4o-mini")["requests"] == 4
    assert total(token_id=traffic.tokens["3"]["id"])["requests"] == 0
    both = total(token_id=one, endpoint_id=traffic.endpoints["b"]["id"])
    assert both["requests"] == 0


@pytest.mark.parametrize(("params", "field"), [
    ({"range": "1y"}, "range"),
    ({"bucket": "week"}, "bucket"),
    ({"group_by": "colour"}, "group_by"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2020-13-45"}, "to"),
    ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ({"token_id": "abc"}, "token_id"),
    ({"endpoint_id": "-1"}, "endpoint_id"),
])
def test_bad_usage_parameters_are_400(traffic: Traffic, params: dict[str, str],
                                      field: str) -> None:
    assert_api_error(traffic.root.get("usage", params=params), 400, mentions=field)


def test_overview_numbers(traffic: Traffic) -> None:
    overview = traffic.root.ok("GET", "overview")
    rows = traffic.rows
    assert overview["requests_today"] == 12
    assert overview["requests_24h"] == 12
    assert overview["tokens_this_month"] == sum(r["prompt_tokens"] + r["completion_tokens"]
                                                for r in rows)
    assert overview["cost_this_month"] == pytest.approx(_cost(rows, traffic.endpoints),
                                                        abs=2e-6)
    assert overview["error_rate_24h"] == pytest.approx(round(2 / 12, 4))
    # The 400 was the client's mistake, the 502 the upstream's failure.
    assert (overview["client_errors_24h"], overview["upstream_errors_24h"]) == (1, 1)
    assert overview["client_error_rate_24h"] == pytest.approx(round(1 / 12, 4))
    assert overview["upstream_error_rate_24h"] == pytest.approx(round(1 / 12, 4))
    assert overview["active_tokens"] == 3
    top_tokens = [(t["id"], t["name"], t["requests"]) for t in overview["top_tokens"]]
    assert top_tokens == [(traffic.tokens["1"]["id"], "usage-token-1", 8),
                          (traffic.tokens["2"]["id"], "usage-token-2", 4)]
    top_endpoints = [(e["id"], e["name"], e["requests"]) for e in overview["top_endpoints"]]
    assert top_endpoints == [(traffic.endpoints["a"]["id"], "usage-a", 8),
                             (traffic.endpoints["b"]["id"], "usage-b", 4)]
    health = {h["name"]: h for h in overview["upstream_health"]}
    assert set(health) == {"echo", "fake"}


def test_overview_counts_a_revoked_token_out(traffic: Traffic) -> None:
    spare = traffic.root.create_token(name="usage-spare")
    assert traffic.root.ok("GET", "overview")["active_tokens"] == 4
    traffic.root.ok("POST", f"tokens/{spare['id']}/revoke")
    assert traffic.root.ok("GET", "overview")["active_tokens"] == 3


def test_tokens_month_usage(traffic: Traffic) -> None:
    for label, good in (("1", 7), ("2", 3), ("3", 0)):
        token = traffic.tokens[label]
        rows = traffic.rows_where(token_id=token["id"])
        expected = {"requests": good,
                    "tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)}
        assert traffic.root.ok("GET", f"tokens/{token['id']}")["usage_month"] == expected
        listed = next(t for t in traffic.root.ok("GET", "tokens")["items"]
                      if t["id"] == token["id"])
        assert listed["usage_month"] == expected


@pytest.mark.parametrize(("path", "params"), [
    ("usage", {"to": "0001-01-01T00:00:00Z"}),
    ("usage", {"from": "0001-01-01T00:00:00+05:00"}),
    ("logs", {"from": "0001-01-01T00:00:00+05:00"}),
])
def test_times_out_of_range_are_400_not_500(traffic: Traffic, path: str,
                                            params: dict[str, str]) -> None:
    assert_api_error(traffic.root.get(path, params=params), 400)


def test_series_split_client_and_upstream_errors(traffic: Traffic) -> None:
    usage = traffic.root.ok("GET", "usage", params={"range": "24h", "group_by": "endpoint"})
    split = {s["name"]: (s["totals"]["client_errors"], s["totals"]["upstream_errors"])
             for s in usage["series"]}
    assert split == {"usage-a": (1, 0), "usage-b": (0, 1)}
    assert (usage["totals"]["client_errors"], usage["totals"]["upstream_errors"]) == (1, 1)


def test_clients_own_errors_are_not_upstream_errors(tmp_path) -> None:
    """Only 401s and 429s while the upstream answers every call: the overview says the
    upstream is fine (it said 70 % errors and nothing more)."""
    env = build_admin_appliance(tmp_path)
    try:
        root = env.admin
        endpoint = root.create_endpoint(env.provider_ids["echo"], name="overview-e")
        token = root.create_token(name="overview-t", rpm=1)["token"]
        statuses = [chat(env.url, token, endpoint["path"]).status_code for _ in range(3)]
        statuses += [chat(env.url, "mpx_" + "x" * 43, endpoint["path"]).status_code
                     for _ in range(2)]
        assert statuses == [200, 429, 429, 401, 401]
        root.wait_for_log_rows(5)
        overview = root.ok("GET", "overview")
    finally:
        env.appliance.close()
    assert overview["error_rate_24h"] == 0.8  # every error, as the field always was
    assert (overview["client_errors_24h"], overview["upstream_errors_24h"]) == (4, 0)
    assert overview["client_error_rate_24h"] == 0.8
    assert overview["upstream_error_rate_24h"] == 0.0
