"""Issue 12's storage on each database: endpoint aliases (validated, unique with the names,
audited, looked up by the catalog), the request log's dialect and agent-session columns
(written, filtered, exported) and usage grouped by them; version 7 upgrades a database
that has rows."""

from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest

from app import migrations
from app.db import connect
from app.errors import ConflictError, ValidationError
from app.models import AuditEntry, Endpoint, RequestLog, UsageDaily
from app.services import endpoints, providers, request_logs, secret_key, usage
from server.catalog import Catalog
from server.logwriter import LogWriter


@pytest.fixture
def echo(db, settings, actor) -> int:
    return providers.create(secret_key.load_box(settings), actor, name="echo", type="echo").id


def _endpoint(actor, name: str, **fields) -> Endpoint:
    return endpoints.create(actor, name=name, path=f"/api/{name}", kind="chat", model="m",
                            provider="echo", **fields)


# --- aliases ---------------------------------------------------------------------------


def test_aliases_are_stored_shown_and_audited(db, actor, echo) -> None:
    agent_names = ["claude-sonnet-4-5-20250929", "openai/gpt-5:free", "gpt-5.1"]
    endpoint = _endpoint(actor, "coder", aliases=agent_names)
    assert endpoints.to_dict(Endpoint.get_by_id(endpoint.id))["aliases"] == agent_names
    assert endpoints.to_dict(_endpoint(actor, "plain"))["aliases"] == []
    endpoints.update(actor, endpoint.id, aliases=["claude-opus-4-1"])
    assert Endpoint.get_by_id(endpoint.id).aliases == ["claude-opus-4-1"]
    changes = [e.changes for e in AuditEntry.select().where(
        (AuditEntry.target_type == "endpoint") & (AuditEntry.target_id == endpoint.id))
        .order_by(AuditEntry.id)]
    assert changes[0]["aliases"] == agent_names
    assert changes[1] == {"aliases": ["claude-opus-4-1"]}


@pytest.mark.parametrize(("aliases", "message"), [
    ("claude", "must be a list"),
    (["ok", ""], "aliases is required"),
    (["two words!"], "aliases must be 1-100 characters"),
    (["-leading"], "aliases must be 1-100 characters"),
    ([f"m{i}" for i in range(21)], "at most 20"),
    (["Same", "same"], "given twice"),
    (["coder"], "own name"),
])
def test_bad_aliases_are_refused(db, actor, echo, aliases, message) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        _endpoint(actor, "coder", aliases=aliases)
    assert info.value.field == "aliases"
    assert not isinstance(info.value, ConflictError)


def test_an_alias_is_unique_across_every_name_and_alias(db, actor, echo) -> None:
    first = _endpoint(actor, "first", aliases=["claude-sonnet-4-5"])
    second = _endpoint(actor, "second")
    with pytest.raises(ConflictError, match="'Claude-Sonnet-4-5' is already an alias of the "
                                            "endpoint 'first'") as info:
        endpoints.update(actor, second.id, aliases=["Claude-Sonnet-4-5"])
    assert info.value.field == "aliases"
    with pytest.raises(ConflictError, match="'FIRST' is already the name of the endpoint"):
        endpoints.update(actor, second.id, aliases=["FIRST"])
    with pytest.raises(ConflictError, match="already an alias of the endpoint 'first'") as info:
        _endpoint(actor, "claude-sonnet-4-5")
    assert info.value.field == "name"
    with pytest.raises(ConflictError, match="already an alias"):
        endpoints.update(actor, second.id, name="claude-sonnet-4-5")
    endpoints.update(actor, first.id, aliases=["claude-sonnet-4-5", "more"])  # its own: fine


def test_the_catalog_finds_an_endpoint_by_alias(db, settings, actor, echo) -> None:
    coder = _endpoint(actor, "coder", aliases=["claude-sonnet-4-5"])
    other = endpoints.create(actor, name="other", path="/api/other", kind="chat",
                             model="claude-sonnet-4-5", provider="echo")
    catalog = Catalog(settings, secret_key.load_box(settings), db)
    catalog.reload()
    assert catalog.endpoint_for_model("claude-sonnet-4-5").id == coder.id  # alias before model
    assert catalog.endpoint_for_model("coder").id == coder.id
    assert catalog.endpoint_for_model("other").id == other.id
    assert catalog.endpoints_by_id[coder.id].aliases == ("claude-sonnet-4-5",)
    catalog.stop()


# --- request log -----------------------------------------------------------------------

HOUR = dt.datetime(2026, 5, 4, 10)


def _write(db: pw.Database, *records: dict) -> None:
    writer = LogWriter(db)
    for i, fields in enumerate(records):
        writer.write({"time": HOUR.replace(minute=i), "request_id": f"r{i}", "status": 200,
                      "latency_ms": 4.0, "endpoint_id": 1, "model": "m",
                      "prompt_tokens": 10, "completion_tokens": 1, **fields})
    writer.stop()


AGENT_TRAFFIC = (
    {"client_dialect": "messages", "provider_dialect": "chat", "agent_session": "s-1"},
    {"client_dialect": "messages", "provider_dialect": "chat", "agent_session": "s-1",
     "status": 502},
    {"client_dialect": "responses", "provider_dialect": "responses", "agent_session": "s-2"},
    {"client_dialect": "chat", "provider_dialect": "chat"},
    {},  # embeddings: no dialect
)


def test_rows_carry_dialects_and_session_and_filter_by_them(db) -> None:
    _write(db, *AGENT_TRAFFIC)
    rows = {r["request_id"]: r for r in request_logs.page({}, 10)[0]}
    assert {k: rows["r0"][k] for k in ("client_dialect", "provider_dialect",
                                       "agent_session")} == AGENT_TRAFFIC[0]
    assert (rows["r4"]["client_dialect"], rows["r4"]["agent_session"]) == (None, None)

    def ids(**filters) -> list[str]:
        return sorted(r["request_id"] for r in request_logs.page(filters, 10)[0])

    assert ids(client_dialect="messages") == ["r0", "r1"]
    assert ids(provider_dialect="responses") == ["r2"]
    assert ids(agent_session="s-1", status="5xx") == ["r1"]
    assert ids(agent_session="s") == []  # exact, not a prefix
    lines = "".join(request_logs.csv_lines({"agent_session": "s-2"})).splitlines()
    assert ",client_dialect,provider_dialect,agent_session," in lines[0]
    assert ",responses,responses,s-2," in lines[1] and len(lines) == 2


def test_rollups_are_keyed_by_the_dialects(db) -> None:
    _write(db, *AGENT_TRAFFIC)
    by_dialects = {(r.client_dialect, r.provider_dialect): r.requests
                   for r in UsageDaily.select()}
    assert by_dialects == {("messages", "chat"): 2, ("responses", "responses"): 1,
                           ("chat", "chat"): 1, ("", ""): 1}


@pytest.mark.parametrize("bucket", ["hour", "day"])
def test_usage_groups_by_dialect_and_session(db, bucket) -> None:
    _write(db, *AGENT_TRAFFIC)
    start, end = HOUR - dt.timedelta(hours=1), HOUR + dt.timedelta(hours=1)

    def groups(group_by: str, **filters) -> dict:
        answer = usage.series(start, end, bucket, group_by, filters)
        return {s["name"]: (s["totals"]["requests"], s["totals"]["upstream_errors"],
                            s["totals"]["prompt_tokens"]) for s in answer["series"]}

    assert groups("client_dialect") == {"messages": (2, 1, 20), "responses": (1, 0, 10),
                                        "chat": (1, 0, 10), "(none)": (1, 0, 10)}
    assert groups("provider_dialect") == {"chat": (3, 1, 30), "responses": (1, 0, 10),
                                          "(none)": (1, 0, 10)}
    assert groups("agent_session") == {"s-1": (2, 1, 20), "s-2": (1, 0, 10),
                                       "(none)": (2, 0, 20)}
    assert groups("agent_session", client_dialect="messages") == {"s-1": (2, 1, 20)}
    session = usage.series(start, end, bucket, "agent_session", {})["series"][0]
    assert session["totals"]["p50_ms"] is not None
    assert len(session["points"]) == (2 if bucket == "hour" else 1)


def test_a_long_session_header_is_cut_to_the_column() -> None:
    from server.client_api.call import Call

    call = Call("r", "127.0.0.1", client_dialect="messages", provider_dialect="chat",
                agent_session="x" * 300)
    record = call.log_record()
    assert (record["client_dialect"], record["provider_dialect"]) == ("messages", "chat")
    assert record["agent_session"] == "x" * 128
    assert Call("r", "127.0.0.1").log_record()["agent_session"] is None


# --- version 7 -------------------------------------------------------------------------


def test_upgrade_to_version_7_keeps_rows_and_rollups_take_the_new_key(database_url) -> None:
    db = connect(database_url)
    old = dt.datetime(2026, 1, 2, 3)
    with db.connection_context():
        migrations.migrate(db, target=6)
        db.execute_sql(
            "INSERT INTO provider (name, type, base_url, headers, timeout_s, enabled, "
            f"created_at, updated_at) VALUES ('p', 'echo', '', '{{}}', 60, {db.param}, "
            f"{db.param}, {db.param})", (True, old, old))
        db.execute_sql(
            "INSERT INTO endpoint (name, path, kind, model, provider_id, enabled, created_at, "
            f"updated_at) VALUES ('e', '/api/e', 'chat', 'm', 1, {db.param}, {db.param}, "
            f"{db.param})", (True, old, old))
        db.execute_sql(
            "INSERT INTO request_log (time, request_id, status, latency_ms, prompt_tokens, "
            "completion_tokens, usage_estimated, stream) VALUES "
            f"({db.param}, 'old', 200, 5, 1, 1, {db.param}, {db.param})", (old, False, False))
        writer = LogWriter(db)
        for dialect in (None, "messages", "messages"):
            writer.write({"time": old, "request_id": "x", "status": 200, "latency_ms": 1.0,
                          "endpoint_id": 1, "client_dialect": dialect})
        assert migrations.migrate(db, target=7) == [7]
        aliases = [row[0] for row in db.execute_sql("SELECT aliases FROM endpoint")]
        assert aliases == ["[]"]
        migrations.migrate(db)  # the live writer writes the latest version's columns
        with db.bind_ctx([Endpoint, RequestLog, UsageDaily]):
            row = RequestLog.get(RequestLog.request_id == "old")
            assert (row.client_dialect, row.provider_dialect, row.agent_session) == (
                None, None, None)
            writer.stop()  # written on the new key: two rollup rows, not a conflict
            assert sorted((r.client_dialect, r.requests) for r in UsageDaily.select()) == [
                ("", 1), ("messages", 2)]
    db.close_all()
