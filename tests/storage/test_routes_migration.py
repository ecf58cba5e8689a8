"""Version 8 (routes and money): each endpoint's provider, model and prices become its one
target, with the data kept; the new columns read as "not recorded" for the rows before."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from app import migrations
from app.db import connect
from app.models import Endpoint, EndpointTarget, Provider, RequestLog, Token, UsageDaily
from server.logwriter import LogWriter

OLD = dt.datetime(2026, 1, 2, 3)


def _seed_version_7(db) -> None:
    p = db.param
    for name in ("a", "b"):
        db.execute_sql(
            "INSERT INTO provider (name, type, base_url, headers, timeout_s, enabled, "
            f"created_at, updated_at) VALUES ('{name}', 'openai', '', '{{}}', 60, {p}, {p}, "
            f"{p})", (True, OLD, OLD))
    db.execute_sql(
        "INSERT INTO endpoint (name, path, kind, model, provider_id, enabled, "
        "price_input_per_m, price_output_per_m, aliases, created_at, updated_at) VALUES "
        f"('priced', '/api/priced', 'chat', 'gpt-4o', 2, {p}, 2.5, 10, '[]', {p}, {p})",
        (True, OLD, OLD))
    db.execute_sql(
        "INSERT INTO endpoint (name, path, kind, model, provider_id, enabled, aliases, "
        f"created_at, updated_at) VALUES ('plain', '/api/plain', 'embeddings', 'emb', 1, "
        f"{p}, '[]', {p}, {p})", (False, OLD, OLD))
    db.execute_sql(
        "INSERT INTO request_log (time, request_id, endpoint_id, provider_id, status, "
        "latency_ms, prompt_tokens, completion_tokens, usage_estimated, stream) VALUES "
        f"({p}, 'old', 1, 2, 200, 5, 10, 20, {p}, {p})", (OLD, False, False))


def test_upgrade_to_version_8_moves_each_provider_into_a_one_target_list(database_url) -> None:
    db = connect(database_url)
    with db.connection_context():
        migrations.migrate(db, target=7)
        _seed_version_7(db)
        assert migrations.migrate(db) == [8]
        with db.bind_ctx([Provider, Endpoint, EndpointTarget, RequestLog, Token, UsageDaily]):
            targets = {t.endpoint.name: t for t in EndpointTarget.select()}
            assert set(targets) == {"priced", "plain"}
            priced = targets["priced"]
            assert (priced.provider.name, priced.model, priced.priority, priced.weight,
                    priced.enabled) == ("b", "gpt-4o", 0, 1, True)
            assert (priced.price_input_per_m, priced.price_cached_input_per_m,
                    priced.price_output_per_m) == (Decimal("2.5"), Decimal("2.5"),
                                                   Decimal("10"))
            plain = targets["plain"]
            assert (plain.provider.name, plain.model, plain.price_input_per_m) == (
                "a", "emb", None)
            assert [(e.name, e.model, e.provider_id, e.enabled, e.monthly_budget)
                    for e in Endpoint.select().order_by(Endpoint.id)] == [
                ("priced", "gpt-4o", 2, True, None), ("plain", "emb", 1, False, None)]
            row = RequestLog.get(RequestLog.request_id == "old")
            assert (row.prompt_tokens, row.completion_tokens, row.attempts, row.target_id,
                    row.attempt_log, row.cached_tokens, row.cost_nanos) == (
                10, 20, 1, None, None, 0, None)
    db.close_all()


def test_rows_written_after_version_8_roll_up_cost_cached_and_unpriced(database_url) -> None:
    db = connect(database_url)
    with db.connection_context():
        migrations.migrate(db)
        writer = LogWriter(db)
        base = {"time": OLD, "status": 200, "latency_ms": 1.0, "endpoint_id": 1,
                "prompt_tokens": 100, "completion_tokens": 10}
        writer.write({**base, "request_id": "a", "cached_tokens": 40, "cost_nanos": 1500})
        writer.write({**base, "request_id": "b", "cost_nanos": 2500, "attempts": 2,
                      "attempt_log": [{"target_id": 1, "status": 503}, {"target_id": 2,
                                                                         "status": 200}]})
        writer.write({**base, "request_id": "c"})  # tokens, no price
        writer.write({**base, "request_id": "d", "prompt_tokens": 0, "completion_tokens": 0,
                      "status": 401})  # no tokens: nothing to price
        writer.stop()
        with db.bind_ctx([RequestLog, UsageDaily]):
            day = UsageDaily.get()
            assert (day.requests, day.cached_tokens, day.cost_nanos, day.unpriced) == (
                4, 40, 4000, 1)
            b = RequestLog.get(RequestLog.request_id == "b")
            assert b.attempts == 2 and [a["status"] for a in b.attempt_log] == [503, 200]
    db.close_all()
