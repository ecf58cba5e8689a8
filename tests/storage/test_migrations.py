"""The schema: made by numbered steps, upgradable, matching the models, on both databases."""

from __future__ import annotations

import datetime as dt

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
