"""The quota book on its own: token holds, and servers sharing one database (each a book
over a shared in-memory "database" of settled usage)."""

from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest
from playhouse.pool import MaxConnectionsExceeded

from server.client_api import limits
from server.client_api.limits import AWAY_S, Hold, QuotaBook, QuotaRefused, QuotaUnknown


def refusal(book: QuotaBook, *args: int | None, **kwargs: int) -> str | None:
    """Why `book.reserve(*args)` refused, or None if it held the request."""
    try:
        book.reserve(*args, **kwargs)  # type: ignore[arg-type]
    except QuotaRefused as refused:
        return str(refused)
    return None


class SharedDatabase:
    """What the rollups say each token used, as every server's book reads it."""

    def __init__(self) -> None:
        self.used: dict[int, tuple[int, int]] = {}
        self.reads = 0
        self.down = False
        self.failure: Exception = pw.OperationalError("the database is restarting")

    def load(self, token_id: int, since: dt.date) -> tuple[int, int]:
        if self.down:
            raise self.failure
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
    held = [refusal(book, 1, None, 5000, 1009) for _ in range(5)]
    assert held[:4] == [None] * 4
    assert "1009 model tokens" in held[4] and "964 of the monthly token quota" in held[4]
    book.settle(1, True, 1000, held=Hold(1009))  # used 1,000; 3 hold 3,027
    assert refusal(book, 1, None, 5000, 1009) is not None
    for _ in range(3):
        book.settle(1, True, 1000, held=Hold(1009))
    assert book.usage(1) == (4, 4000)
    assert refusal(book, 1, None, 5000, 1001) is not None  # 1,000 left
    assert book.reserve(1, None, 5000, 1000).tokens == 1000


def test_a_failed_request_gives_its_hold_back() -> None:
    book = QuotaBook(SharedDatabase().load)
    assert book.reserve(1, 1, 100, 100).tokens == 100
    assert refusal(book, 1, 1, 100, 1) is not None
    book.settle(1, False, 0, held=Hold(100))
    assert book.reserve(1, 1, 100, 100).tokens == 100


def test_without_reread_the_month_is_read_once() -> None:
    db = SharedDatabase()
    book = QuotaBook(db.load)
    for _ in range(5):
        assert refusal(book, 1, 10, None) is None
        book.settle(1, True, 0)
    assert db.reads == 1 and book.usage(1) == (5, 0)


def test_sequential_use_across_servers_stops_at_the_quota() -> None:
    db = SharedDatabase()
    servers = [QuotaBook(db.load, reread=True) for _ in range(3)]
    answers = []
    for i in range(20):
        book = servers[i % 3]
        refused = refusal(book, 7, 10, 500, 30)
        answers.append(refused is None)
        if refused is None:
            assert book.settle(7, True, 25, held=Hold(30), write=db.writer(7, 1, 25))
    assert answers == [True] * 10 + [False] * 10
    assert db.used[7] == (10, 250)


def test_sequential_tokens_across_servers_stay_within_the_quota() -> None:
    db = SharedDatabase()
    servers = [QuotaBook(db.load, reread=True) for _ in range(2)]
    through = 0
    for i in range(10):
        if refusal(servers[i % 2], 7, None, 1000, 300) is None:
            servers[i % 2].settle(7, True, 280, Hold(300), write=db.writer(7, 1, 280))
            through += 1
    assert through == 3 and db.used[7] == (3, 840)  # a fourth would need 300 of 160 left


def test_a_row_not_written_at_once_counts_from_memory_until_it_is_written() -> None:
    db = SharedDatabase()
    book = QuotaBook(db.load, reread=True)
    row = {"request_id": "first"}
    assert refusal(book, 7, 2, None) is None
    db.down = True
    assert book.settle(7, True, 0, write=db.writer(7, 1, 0), row=row) is False  # queued
    db.down = False
    assert refusal(book, 7, 2, None) is None  # the database says 0; memory says 1
    assert refusal(book, 7, 2, None) is not None
    book.settle(7, False, 0)  # the second one failed upstream
    db.used[7] = (1, 0)  # the batched writer wrote the first ...
    book.written([{"request_id": "other"}, row])  # ... and says so
    assert refusal(book, 7, 2, None) is None  # counted once: from the database alone
    assert refusal(book, 7, 2, None) is not None


def test_a_row_the_writer_has_not_written_keeps_counting() -> None:
    """However long the batched writer takes (or if it kept the row aside), the row that
    is not in the rollups counts; one that is counts once."""
    db, now = SharedDatabase(), [0.0]
    book = QuotaBook(db.load, reread=True, clock=lambda: now[0])
    for request_id in ("late", "written"):
        assert refusal(book, 7, 3, None) is None
        db.down = True
        book.settle(7, True, 0, write=db.writer(7, 1, 0), row={"request_id": request_id})
        db.down = False
        now[0] += AWAY_S
    now[0] += 3600
    assert refusal(book, 7, 3, None) is None  # 2 of 3, both from memory
    assert refusal(book, 7, 3, None) is not None


def test_a_failed_read_keeps_the_last_figure_and_what_was_settled_since() -> None:
    db = SharedDatabase()
    book = QuotaBook(db.load, reread=True)
    for _ in range(2):
        assert refusal(book, 7, 3, None) is None
        book.settle(7, True, 0, write=db.writer(7, 1, 0))
    db.down = True
    assert refusal(book, 7, 3, None) is None  # 2 used, from memory
    book.settle(7, True, 0, write=db.writer(7, 1, 0))
    assert "request quota of 3" in (refusal(book, 7, 3, None) or "")


def test_a_write_that_raises_still_releases_the_hold() -> None:
    book = QuotaBook(SharedDatabase().load, reread=True)
    assert refusal(book, 7, 1, None) is None

    def broken() -> bool:
        raise RuntimeError("a bug in the writer")

    with pytest.raises(RuntimeError):
        book.settle(7, False, 5, write=broken)
    assert refusal(book, 7, 1, None) is None


# --- a database that is busy or away ---------------------------------------------------------

FULL_POOL = MaxConnectionsExceeded("Exceeded maximum connections.")


@pytest.mark.parametrize("failure", [FULL_POOL, pw.OperationalError("connection refused")])
def test_a_failed_reread_decides_from_the_last_figure(failure: Exception) -> None:
    db = SharedDatabase()
    book = QuotaBook(db.load, reread=True)
    assert refusal(book, 7, 2, None) is None
    book.settle(7, True, 0, write=db.writer(7, 1, 0))
    db.down, db.failure = True, failure
    assert refusal(book, 7, 2, None) is None  # 1 used, from memory: not an error
    book.settle(7, True, 0, write=db.writer(7, 1, 0))
    assert "request quota of 2" in (refusal(book, 7, 2, None) or "")


@pytest.mark.parametrize("reread", [True, False])
@pytest.mark.parametrize("failure", [FULL_POOL, pw.OperationalError("connection refused")])
def test_a_month_that_cannot_be_read_at_all_is_unknown(failure: Exception,
                                                       reread: bool) -> None:
    """No figure to decide from: the request is refused (503), not let through."""
    db = SharedDatabase()
    db.down, db.failure = True, failure
    book = QuotaBook(db.load, reread=reread)
    with pytest.raises(QuotaUnknown, match="could not be read"):
        book.reserve(7, 2, None)
    db.down = False
    assert refusal(book, 7, 2, None) is None  # read once the database answers


def test_after_a_failure_the_database_is_not_asked_again_for_a_moment() -> None:
    """A busy database would make each request of a token wait its turn for a connection
    in vain; for AWAY_S this process decides from memory and queues rows instead."""
    db, now = SharedDatabase(), [0.0]
    book = QuotaBook(db.load, reread=True, clock=lambda: now[0])
    assert refusal(book, 7, 4, None) is None
    db.down, db.failure = True, FULL_POOL
    book.settle(7, True, 0, write=db.writer(7, 1, 0), row={"request_id": "a"})
    reads, writes = db.reads, []
    for i in range(3):
        assert refusal(book, 7, 4, None) is None
        book.settle(7, True, 0, write=lambda: writes.append(1) or True,
                    row={"request_id": str(i)})
    assert (db.reads, writes) == (reads, [])  # nothing asked of the database meanwhile
    assert "request quota of 4" in (refusal(book, 7, 4, None) or "")
    db.down = False
    now[0] = AWAY_S
    # read again: 0 written, 4 queued
    assert "request quota of 4" in (refusal(book, 7, 4, None) or "")
    assert db.reads == reads + 1


# --- a request without max_tokens ---------------------------------------------------------------


def test_without_max_tokens_a_small_quota_serves_request_after_request() -> None:
    """The default hold (1,024 + the prompt's 9) is cut to what is left, down to the
    prompt and one token: a 500-token quota is not refused outright."""
    book = QuotaBook(SharedDatabase().load)
    first = book.reserve(1, None, 500, 1033, least=10)
    assert first[:2] == (500, True)  # (tokens, shortened)
    assert "at least 10 model tokens" in (refusal(book, 1, None, 500, 1033, least=10) or "")
    book.settle(1, True, 7, held=first)
    second = book.reserve(1, None, 500, 1033, least=10)
    assert second[:2] == (493, True)
    book.settle(1, True, 485, held=second)  # 492 used, 8 left: not even the prompt
    assert "at least 10 model tokens" in (refusal(book, 1, None, 500, 1033, least=10) or "")
    assert "send a smaller max_tokens" in (refusal(book, 1, None, 500, 20) or "")


def test_one_shortened_hold_at_a_time() -> None:
    """A shortened hold may be passed by its whole answer: while one is in flight, room
    that others give back goes to requests that fit whole (or that name max_tokens)."""
    book = QuotaBook(SharedDatabase().load)
    full = [book.reserve(1, None, 5000, 1033, least=10) for _ in range(4)]
    assert [h[:2] for h in full] == [(1033, False)] * 4
    short = book.reserve(1, None, 5000, 1033, least=10)
    assert short[:2] == (868, True)
    book.settle(1, True, 1000, held=full[0])  # 33 given back
    assert "at least 10" in (refusal(book, 1, None, 5000, 1033, least=10) or "")
    assert book.reserve(1, None, 5000, 30, least=30)[:2] == (30, False)  # max_tokens
    book.settle(1, True, 1000, held=short)
    assert "but 0 of the monthly" in (refusal(book, 1, None, 5000, 1033, least=10) or "")


def test_a_request_settles_in_the_month_it_was_let_through_in(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One let through on the 31st and answered on the 1st gives its hold back where it
    was taken (and counts there, as its row is dated then)."""
    book = QuotaBook(SharedDatabase().load)
    this_month = limits.month_start()
    held = book.reserve(1, 2, 100, 60)
    monkeypatch.setattr(limits, "month_start", lambda: this_month + dt.timedelta(days=31))
    book.settle(1, True, 50, held)
    assert book.usage(1) == (0, 0)  # the new month
    monkeypatch.setattr(limits, "month_start", lambda: this_month)
    assert book.usage(1) == (1, 50)
    assert book.reserve(1, 2, 100, 50).tokens == 50  # the 60 held are given back
