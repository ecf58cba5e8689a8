"""The schema: made by numbered steps, upgradable, matching the models, on both databases."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import peewee as pw
import pytest

from app import migrations
from app.db import connect, open_database
from app.models import TABLES, RequestLog


def test_fresh_database_reaches_latest_version(db: pw.Database) -> None:
    assert migrations.current_version(db) == migrations.LATEST
    assert migrations.migrate(db) == []  # nothing left to apply, and no error


def test_tables_match_the_models(db: pw.Database) -> None:
    for model in TABLES:
        table = model._meta.table_name
        columns = {c.name for c in db.get_columns(table)}
        assert columns == set(model._meta.columns), table


def test_request_log_has_hot_path_and_query_indexes(db: pw.Database) -> None:
    indexed = {tuple(i.columns) for i in db.get_indexes(RequestLog._meta.table_name)}
    assert ("time",) in indexed
    assert ("request_id",) in indexed
    assert ("token_id", "time") in indexed
    assert ("endpoint_id", "time") in indexed


def test_upgrade_from_previous_version_keeps_data(database_url: str) -> None:
    db = connect(database_url)
    with db.connection_context():
        assert migrations.migrate(db, target=migrations.LATEST - 1) == list(
            range(1, migrations.LATEST))
        db.execute_sql(
            "INSERT INTO provider (name, type, base_url, headers, timeout_s, enabled, "
            "created_at, updated_at) VALUES ('kept', 'echo', '', '{}', 60, %s, %s, %s)"
            .replace("%s", db.param), (True, dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1)))
        assert migrations.migrate(db) == [migrations.LATEST]
        assert migrations.current_version(db) == migrations.LATEST
        names = [row[0] for row in db.execute_sql("SELECT name FROM provider")]
    db.close_all()
    assert names == ["kept"]


def test_open_database_twice_applies_each_step_once(settings) -> None:
    first = open_database(settings)
    second = open_database(settings)
    with second.connection_context():
        versions = [row[0] for row in second.execute_sql("SELECT version FROM schema_version")]
    first.close_all()
    second.close_all()
    assert sorted(versions) == list(range(1, migrations.LATEST + 1))


def test_unreachable_database_is_a_clear_error(tmp_path) -> None:
    from app.errors import StorageError
    from app.settings import load_settings

    settings = load_settings(
        {"data_dir": str(tmp_path), "database_url": "postgresql://nobody:pw@127.0.0.1:1/none"},
        environ={}, env_file=None)
    with pytest.raises(StorageError, match=r"cannot open the database postgresql://nobody:\*\*\*@"):
        open_database(settings)


def test_an_older_version_refuses_a_database_a_newer_one_upgraded(settings) -> None:
    from app.errors import StorageError

    db = open_database(settings)
    with db.connection_context(), db.bind_ctx([migrations.SchemaVersion]):
        migrations.SchemaVersion.create(version=migrations.LATEST + 1)
    db.close_all()
    with pytest.raises(StorageError, match=(
            rf"upgraded by a newer ModelProxy \(schema {migrations.LATEST + 1}; this one "
            rf"knows {migrations.LATEST}\): run that version, or restore the backup")):
        open_database(settings)


def _insert(db: pw.Database, table: str, **values: object) -> None:
    """A raw row with `values`, every other required column 0 (as the writer leaves it)."""
    for column in db.get_columns(table):
        if not column.null and not column.primary_key and column.name not in values:
            values[column.name] = False if "bool" in column.data_type.lower() else 0
    names = ", ".join(values)
    marks = ", ".join([db.param] * len(values))
    db.execute_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values()))


def test_upgrade_counts_upstream_errors_from_the_kept_log(database_url: str) -> None:
    """Version 5 splits the rollups' errors: 5xx rows still in the request log are counted
    into the new upstream_errors column; a client's 4xx is not."""
    db = connect(database_url)
    hour = dt.datetime(2026, 3, 4, 10)
    key = {"token_id": 1, "endpoint_id": 2, "provider_id": 3, "model": "m"}
    with db.connection_context():
        migrations.migrate(db, target=4)
        for minute, status in ((1, 200), (2, 401), (3, 502), (4, 504)):
            _insert(db, "request_log", time=hour.replace(minute=minute),
                    request_id=f"r{minute}", status=status, latency_ms=5.0, **key)
        _insert(db, "usage_hourly", hour=hour, requests=4, errors=3, **key)
        _insert(db, "usage_daily", day=hour.date(), requests=4, errors=3, **key)
        assert migrations.migrate(db) == list(range(5, migrations.LATEST + 1))
        counts = [tuple(row) for row in db.execute_sql(
            "SELECT errors, upstream_errors FROM usage_hourly UNION ALL "
            "SELECT errors, upstream_errors FROM usage_daily")]
    db.close_all()
    assert counts == [(3, 2), (3, 2)]


def test_steps_use_frozen_copies_not_the_live_models() -> None:
    """A step must mean what it meant when it was written: it imports neither app.models nor
    the services (whose tables move on), only its own copies (app/migrations/frozen.py)."""
    folder = Path(migrations.__file__).parent
    for name in [*migrations.STEPS, "__init__", "frozen"]:
        tree = ast.parse((folder / f"{name}.py").read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
        live = {m for m in imported if m and m.split(".")[:2] in (["app", "models"],
                                                                  ["app", "services"])}
        assert not live, f"{name} imports {sorted(live)}"
