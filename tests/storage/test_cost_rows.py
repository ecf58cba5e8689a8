"""Issue 13's money on each database: the request log's cost, cached tokens and attempts
as the logs API, the CSV and the CLI give them; usage summed from the stored costs (cached
and unpriced requests counted); this month's spend per token and endpoint and the
overview's budgets."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal

import peewee as pw
import pytest

from app.models import Endpoint, Token, utcnow
from app.services import endpoints, providers, request_logs, secret_key, usage, usage_money
from server.logwriter import LogWriter

NOW = utcnow().replace(minute=0, second=0, microsecond=0)
TWO_ATTEMPTS = [{"target_id": 7, "provider_id": 1, "model": "a", "status": 502,
                 "latency_ms": 3.0, "error": "upstream 502"},
                {"target_id": 8, "provider_id": 2, "model": "b", "status": 200,
                 "latency_ms": 4.0, "error": None}]


def _write(db: pw.Database, *records: dict) -> None:
    writer = LogWriter(db)
    for i, fields in enumerate(records):
        writer.write({"time": NOW + dt.timedelta(seconds=i), "request_id": f"r{i}",
                      "status": 200, "latency_ms": 4.0, "endpoint_id": 1, "token_id": 1,
                      "provider_id": 1, "model": "m", "prompt_tokens": 10,
                      "completion_tokens": 1, "target_id": 7, **fields})
    writer.stop()


TRAFFIC = (
    {"cost_nanos": 1_500_000_000, "cached_tokens": 4},  # $1.50
    {"cost_nanos": 250_000, "target_id": 8, "provider_id": 2, "model": "b",
     "attempts": 2, "attempt_log": TWO_ATTEMPTS},
    {"cost_nanos": None},  # tokens, no price: unpriced
    {"cost_nanos": None, "status": 401, "prompt_tokens": 0, "completion_tokens": 0,
     "token_id": None},  # no tokens: not unpriced
    {"cost_nanos": 2_000, "token_id": 2, "endpoint_id": 2},
)


def test_rows_carry_cost_cached_tokens_and_attempts(db) -> None:
    _write(db, *TRAFFIC)
    rows = {r["request_id"]: r for r in request_logs.page({}, 10)[0]}
    assert (rows["r0"]["cost"], rows["r0"]["cached_tokens"], rows["r0"]["attempts"]) == (
        1.5, 4, 1)
    assert rows["r0"]["attempt_log"] == [{"target_id": 7, "provider_id": 1, "model": "m",
                                          "status": 200, "latency_ms": 4.0, "error": None}]
    assert rows["r1"]["attempts"] == 2 and rows["r1"]["attempt_log"] == TWO_ATTEMPTS
    assert rows["r1"]["cost"] == pytest.approx(0.00025) and rows["r1"]["target_id"] == 8
    assert rows["r2"]["cost"] is None and rows["r3"]["cost"] is None
    assert sorted(r["request_id"] for r in request_logs.page({"target_id": 8}, 10)[0]) == [
        "r1"]


def test_the_csv_carries_cost_and_attempts(db) -> None:
    _write(db, *TRAFFIC)
    lines = "".join(request_logs.csv_lines({"request_id": "r1"})).splitlines()
    assert lines[0].endswith(",target_id,cached_tokens,cost,attempts,attempt_log")
    [row] = list(csv.DictReader(lines))
    assert (row["target_id"], row["cost"], row["attempts"]) == ("8", "0.00025", "2")
    assert json.loads(row["attempt_log"]) == TWO_ATTEMPTS


@pytest.mark.parametrize("group_by", [None, "agent_session"])  # the rollups, the log rows
def test_usage_sums_the_stored_costs(db, group_by) -> None:
    _write(db, *TRAFFIC)
    answer = usage.series(NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=1), "hour",
                          group_by)
    totals = answer["totals"] if group_by is None else answer["series"][0]["totals"]
    assert totals["cost"] == pytest.approx(1.500252)
    assert (totals["cached_tokens"], totals["unpriced_requests"]) == (4, 1)


def test_month_spend_and_the_overview(db, settings, actor) -> None:
    box = secret_key.load_box(settings)
    providers.create(box, actor, name="echo", type="echo")
    for name, budget in (("one", Decimal(2)), ("two", None)):
        made = endpoints.create(actor, name=name, path=f"/api/{name}", kind="chat",
                                model="m", provider="echo")
        # Set on the row: the admin API's monthly_budget field is another part of issue 13.
        Endpoint.update(monthly_budget=budget).where(Endpoint.id == made.id).execute()
    for name, budget in (("t1", Decimal("1.60")), ("t2", Decimal("0.01")),
                         ("t3", None)):
        Token.create(name=name, prefix=name, secret_hash="x", monthly_budget=budget)
    _write(db, *TRAFFIC)
    last_month = (usage_money.month_start(NOW) - dt.timedelta(days=1))
    _write_at(db, dt.datetime.combine(last_month, dt.time(12)), cost_nanos=9 * 10**9)
    assert usage_money.month_spend("token") == {1: 1_500_250_000, 2: 2_000}
    assert usage_money.month_spend("endpoint") == {1: 1_500_250_000, 2: 2_000}
    with pytest.raises(ValueError, match="subject"):
        usage_money.month_spend("provider")
    overview = usage.overview()
    assert overview["currency"] == "USD"
    assert overview["cost_this_month"] == pytest.approx(1.500252)
    assert overview["unpriced_requests_this_month"] == 1
    one = Endpoint.get(Endpoint.name == "one").id
    assert [(b["subject"], b["id"], b["name"], b["budget"], b["level"])
            for b in overview["budgets"]] == [
        ("token", 1, "t1", 1.6, "warning"), ("token", 2, "t2", 0.01, "ok"),
        ("endpoint", one, "one", 2.0, "ok")]
    assert overview["budgets"][0]["spent"] == pytest.approx(1.50025)
    assert overview["budgets"][0]["percent"] == pytest.approx(93.77, abs=0.01)


def _write_at(db: pw.Database, moment: dt.datetime, **fields) -> None:
    writer = LogWriter(db)
    writer.write({"time": moment, "request_id": "old", "status": 200, "latency_ms": 1.0,
                  "endpoint_id": 1, "token_id": 1, "prompt_tokens": 1, **fields})
    writer.stop()


@pytest.mark.parametrize(("percent", "level"), [(0, "ok"), (79.99, "ok"), (80, "warning"),
                                                (99.9, "warning"), (100, "exceeded"),
                                                (250, "exceeded")])
def test_budget_levels(percent, level) -> None:
    assert usage_money.level(percent) == level


def test_a_budget_of_nothing_is_exceeded() -> None:
    status = usage_money.budget_status("token", 1, "t", Decimal(0), 0)
    assert (status["percent"], status["level"]) == (100.0, "exceeded")


def test_daily_rollups_sum_the_batch_s_hours_across_hours_and_days(db) -> None:
    """One batch over three hours of two days, two tokens (the first's day before of two
    hours): each day's rollup is its rows' sums (the writer sums the hours, then the days
    from them)."""
    from app.models import UsageDaily, UsageHourly

    writer = LogWriter(db)
    late = NOW.replace(hour=23) - dt.timedelta(days=1)
    times = [late, late + dt.timedelta(minutes=30), late + dt.timedelta(hours=1),
             late + dt.timedelta(hours=1, minutes=5), late - dt.timedelta(minutes=50)]
    for i, moment in enumerate(times):
        writer.write({"time": moment, "request_id": f"d{i}", "status": 200 if i else 502,
                      "latency_ms": 2.0 + i, "endpoint_id": 1, "token_id": 1 + i % 2,
                      "provider_id": 1, "model": "m", "prompt_tokens": 10 + i,
                      "completion_tokens": i, "cached_tokens": i, "target_id": 7,
                      "cost_nanos": None if i == 3 else 1_000 * i})
    writer.stop()
    hourly = list(UsageHourly.select())
    daily = {(d.day, d.token_id): d for d in UsageDaily.select()}
    assert len(hourly) == 5 and len(daily) == 4
    for (day, token_id), row in daily.items():
        mine = [i for i, moment in enumerate(times)
                if moment.date() == day and 1 + i % 2 == token_id]
        hours = [h for h in hourly if h.hour.date() == day and h.token_id == token_id]
        assert row.requests == len(mine) == sum(h.requests for h in hours)
        assert row.prompt_tokens == sum(10 + i for i in mine)
        assert row.completion_tokens == row.cached_tokens == sum(mine)
        assert row.cost_nanos == sum(1_000 * i for i in mine if i != 3)
        assert row.unpriced == (3 in mine) and row.errors == (0 in mine)
        assert row.upstream_errors == (0 in mine)
        assert row.latency_ms_sum == pytest.approx(sum(2.0 + i for i in mine))
