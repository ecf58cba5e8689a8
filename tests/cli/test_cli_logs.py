"""`modelproxy logs` past the old 10,000-row cap: `--limit 0` streams every row, and
`--before ID` pages through them, newest first, each row exactly once."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

import peewee as pw
import pytest
from click.testing import CliRunner

from app.cli import cli
from app.db import open_database
from app.services import request_logs
from app.settings import load_settings
from server.logwriter import write_batch

ROWS = 12_000  # more than `--limit` allowed before (10,000)
START = dt.datetime(2026, 11, 1)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    db = open_database(load_settings({"data_dir": str(data)}, environ={}, env_file=None))
    with db.connection_context():
        for first in range(0, ROWS, 1000):
            # three rows a second: rows share times, so the order needs (time, id)
            batch = [{"time": START + dt.timedelta(seconds=i // 3), "request_id": uuid.uuid4().hex,
                      "status": 200, "latency_ms": 1.0} for i in range(first, first + 1000)]
            with db.atomic():
                write_batch(db, batch)
    db.close_all()
    return data


def logs(data_dir: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["logs", *args, "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _newest_first(items: list[dict]) -> bool:
    keys = [(row["time"], row["id"]) for row in items]
    return keys == sorted(keys, reverse=True)


def test_limit_zero_streams_every_row_newest_first(data_dir: Path) -> None:
    every = logs(data_dir, "--limit", "0")
    ids = [row["id"] for row in every["items"]]
    assert len(ids) == ROWS and len(set(ids)) == ROWS
    assert _newest_first(every["items"]) and every["next_before"] is None
    assert every["items"][0]["request_id"] and {"time", "status", "token"} <= set(every["items"][0])


def test_before_pages_through_every_row_once(data_dir: Path) -> None:
    seen: list[dict] = []
    page = logs(data_dir, "--limit", "5000")
    while True:
        seen += page["items"]
        if page["next_before"] is None:
            break
        assert page["next_before"] == page["items"][-1]["id"]
        page = logs(data_dir, "--limit", "5000", "--before", str(page["next_before"]))
    assert [len(seen), len({row["id"] for row in seen})] == [ROWS, ROWS]
    assert _newest_first(seen)


def test_rows_are_read_in_bounded_chunks(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """However many rows are asked for, no query reads more than a chunk of them."""
    limits: list[int] = []
    real = pw.SqliteDatabase.execute_sql

    def recorded(self, sql, params=None, *args, **kwargs):
        if 'FROM "request_log"' in sql and "LIMIT" in sql:
            limits.append(int(re.search(r"LIMIT (\?|\d+)", sql).group(1).replace("?", "0"))
                          or int(params[-1]))
        return real(self, sql, params, *args, **kwargs)

    monkeypatch.setattr(pw.SqliteDatabase, "execute_sql", recorded)
    assert len(logs(data_dir, "--limit", "0")["items"]) == ROWS
    assert max(limits) <= request_logs.CHUNK
    assert len(limits) >= ROWS // request_logs.CHUNK


def test_table_output_names_the_next_page_and_a_bad_before_is_one_error(data_dir: Path) -> None:
    table = CliRunner().invoke(cli, ["logs", "--limit", "2", "--data-dir", str(data_dir)])
    assert table.exit_code == 0
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["ID", "TIME"] and len(lines) == 3
    assert f"modelproxy logs --before {ROWS - 1}" in table.stderr
    bad = CliRunner().invoke(cli, ["logs", "--before", "999999", "--data-dir", str(data_dir)])
    assert bad.exit_code == 1 and "no request-log row with id 999999" in bad.output


def test_rows_carry_their_cost_in_json_and_the_table(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    db = open_database(load_settings({"data_dir": str(data)}, environ={}, env_file=None))
    costs = {"cheap": 120_000, "dear": 2_345_000_000, "unpriced": None}
    with db.connection_context(), db.atomic():
        write_batch(db, [{"time": START + dt.timedelta(seconds=i), "request_id": name,
                          "status": 200, "latency_ms": 1.0, "prompt_tokens": 5,
                          "completion_tokens": 2, "cached_tokens": 3, "target_id": 4,
                          "cost_nanos": cost} for i, (name, cost) in enumerate(costs.items())])
    db.close_all()
    rows = {r["request_id"]: r for r in logs(data)["items"]}
    assert {name: rows[name]["cost"] for name in costs} == {
        "cheap": 0.00012, "dear": 2.345, "unpriced": None}
    assert {(r["cached_tokens"], r["target_id"], r["attempts"]) for r in rows.values()} == {
        (3, 4, 1)}
    assert rows["dear"]["attempt_log"][0]["target_id"] == 4
    table = CliRunner().invoke(cli, ["logs", "--data-dir", str(data)])
    assert table.exit_code == 0 and "COST" in table.stdout.splitlines()[0]
    cells = {line.split()[2]: line.split() for line in table.stdout.splitlines()[1:]}
    assert "$2.35" in cells["dear"] and "$0.0001" in cells["cheap"]
    assert "no" in cells["unpriced"]  # "no price"
