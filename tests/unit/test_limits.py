"""The quota book on its own: token holds, and servers sharing one database (each a book
over a shared in-memory "database" of settled usage)."""

from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest

from server.client_api.limits import UNWRITTEN_S, QuotaBook


class SharedDatabase:
    """What the rollups say each token used, as every server's book reads it."""

    def __init__(self) -> None:
        self.used: dict[int, tuple[int, int]] = {}
        self.reads = 0
        self.down = False

    def load(self, token_id: int, since: dt.date) -> tuple[int, int]:
        if self.down:
            raise pw.OperationalError("the database is restarting")
        self.reads += 1
        return self.used.get(token_id, (0, 0))

    def writer(self, token_id: int, requests: int, tokens: int):
        def write() -> bool:
            if self.down:
                return False
            done = self.used.get(token_id, (0, 0))
            self.used[token_id] = (done[0] + requests, done[1] + tokens)
            return True

        return write


def test_a_token_quota_holds_what_each_request_may_use() -> None:
    book = QuotaBook(SharedDatabase().load)
    held = [book.reserve(1, None, 5000, 1009) for _ in range(5)]
    assert held[:4] == [None] * 4
    assert "1009 model tokens" in held[4] and "964 of the monthly token quota" in held[4]
    book.settle(1, True, 1000, held_tokens=1009)  # used 1,000; 3 hold 3,027
    assert book.reserve(1, None, 5000, 1009) is not None
    for _ in range(3):
        book.settle(1, True, 1000, held_tokens=1009)
    assert book.usage(1) == (4, 4000)
    assert book.reserve(1, None, 5000, 1001) is not None  # 1,000 left
    assert book.reserve(1, None, 5000, 1000) is None


def test_a_failed_request_gives_its_hold_back() -> None:
    book = QuotaBook(SharedDatabase().load)
    assert book.reserve(1, 1, 100, 100) is None
    assert book.reserve(1, 1, 100, 1) is not None
    book.settle(1, False, 0, held_tokens=100)
    assert book.reserve(1, 1, 100, 100) is None


def test_without_reread_the_month_is_read_once() -> None:
    db = SharedDatabase()
    book = QuotaBook(db.load)
    for _ in range(5):
        assert book.reserve(1, 10, None) is None
        book.settle(1, True, 0)
    assert db.reads == 1 and book.usage(1) == (5, 0)


def test_sequential_use_across_servers_stops_at_the_quota() -> None:
    db = SharedDatabase()
    servers = [QuotaBook(db.load, reread=True) for _ in range(3)]
    answers = []
    for i in range(20):
        book = servers[i % 3]
        refusal = book.reserve(7, 10, 500, 30)
        answers.append(refusal is None)
        if refusal is None:
            assert book.settle(7, True, 25, held_tokens=30, write=db.writer(7, 1, 25))
    assert answers == [True] * 10 + [False] * 10
    assert db.used[7] == (10, 250)


def test_sequential_tokens_across_servers_stay_within_the_quota() -> None:
    db = SharedDatabase()
    servers = [QuotaBook(db.load, reread=True) for _ in range(2)]
    through = 0
    for i in range(10):
        if servers[i % 2].reserve(7, None, 1000, 300) is None:
            servers[i % 2].settle(7, True, 280, 300, write=db.writer(7, 1, 280))
            through += 1
    assert through == 3 and db.used[7] == (3, 840)  # a fourth would need 300 of 160 left


def test_a_row_not_written_at_once_counts_from_memory_for_a_while() -> None:
    db, now = SharedDatabase(), [0.0]
    book = QuotaBook(db.load, reread=True, clock=lambda: now[0])
    assert book.reserve(7, 2, None) is None
    db.down = True
    assert book.settle(7, True, 0, write=db.writer(7, 1, 0)) is False  # queued instead
    db.down = False
    assert book.reserve(7, 2, None) is None  # the database says 0; memory says 1
    assert book.reserve(7, 2, None) is not None
    book.settle(7, False, 0)  # the second one failed upstream
    now[0] = UNWRITTEN_S + 1  # by now the batched writer has written the first
    db.used[7] = (1, 0)
    assert book.reserve(7, 2, None) is None  # counted once: from the database alone
    assert book.reserve(7, 2, None) is not None


def test_a_failed_read_keeps_the_last_figure_and_what_was_settled_since() -> None:
    db = SharedDatabase()
    book = QuotaBook(db.load, reread=True)
    for _ in range(2):
        assert book.reserve(7, 3, None) is None
        book.settle(7, True, 0, write=db.writer(7, 1, 0))
    db.down = True
    assert book.reserve(7, 3, None) is None  # 2 used, from memory
    book.settle(7, True, 0, write=db.writer(7, 1, 0))
    assert "request quota of 3" in (book.reserve(7, 3, None) or "")


def test_a_write_that_raises_still_releases_the_hold() -> None:
    book = QuotaBook(SharedDatabase().load, reread=True)
    assert book.reserve(7, 1, None) is None

    def broken() -> bool:
        raise RuntimeError("a bug in the writer")

    with pytest.raises(RuntimeError):
        book.settle(7, False, 5, write=broken)
    assert book.reserve(7, 1, None) is None
