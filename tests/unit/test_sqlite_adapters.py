"""app.db's sqlite3 adapters (C callables, for the log writer's cost per row) bind what
sqlite3's own adapter search did: None as NULL, a bool as its integer, a date or datetime
as the ISO text of sqlite3's default adapters."""

from __future__ import annotations

import datetime as dt
import sqlite3

import app.db  # noqa: F401  (registers the adapters)

NAIVE = dt.datetime(2026, 12, 4, 19, 30, 5, 123456)
AWARE = dt.datetime(2026, 12, 4, 19, 30, 5, tzinfo=dt.UTC)
DAY = dt.date(2026, 12, 4)


def test_values_are_bound_as_before() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (v)")
    values = [None, True, False, NAIVE, AWARE, DAY]
    db.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    stored = db.execute("SELECT v, typeof(v) FROM t ORDER BY rowid").fetchall()
    assert stored == [(None, "null"), (1, "integer"), (0, "integer"),
                      ("2026-12-04 19:30:05.123456", "text"),
                      ("2026-12-04 19:30:05+00:00", "text"), ("2026-12-04", "text")]
    # the texts sqlite3's default adapters (adapt_datetime, adapt_date) wrote
    assert [NAIVE.isoformat(" "), AWARE.isoformat(" "), DAY.isoformat()] == \
        [s for s, _ in stored[3:]]
