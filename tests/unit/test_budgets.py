"""The quota book's money: budgets of tokens and endpoints, held in nanos before a request
is forwarded and settled with its real cost; the refusals' words; the estimate; crossings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.prices import Price
from app.services import options
from server.budget_alerts import crossings
from server.client_api.holds import budget_nanos, cost_to_reserve
from server.client_api.limits import Ask, Limits, QuotaBook, QuotaRefused, Spend, Used
from server.client_api.quota_terms import ENDPOINT, TOKEN, usd
from server.client_api.usage import prompt_estimate

USD = 1_000_000_000  # nanos


class Rollups:
    """What the database says each subject used: (requests, tokens, nanos)."""

    def __init__(self) -> None:
        self.tokens: dict[int, tuple[int, int, int]] = {}
        self.endpoints: dict[int, tuple[int, int, int]] = {}
        self.reads: list[str] = []

    def token(self, token_id: int, since: dt.date) -> tuple[int, int, int]:
        self.reads.append(f"token {token_id}")
        return self.tokens.get(token_id, (0, 0, 0))

    def endpoint(self, endpoint_id: int, since: dt.date) -> tuple[int, int, int]:
        self.reads.append(f"endpoint {endpoint_id}")
        return self.endpoints.get(endpoint_id, (0, 0, 0))

    def book(self, reread: bool = False) -> QuotaBook:
        return QuotaBook(self.token, reread=reread, endpoint_usage=self.endpoint)


def refusal(book: QuotaBook, subject: str, limits: Limits, ask: Ask) -> str | None:
    try:
        book.hold(subject, 1, limits, ask)
    except QuotaRefused as refused:
        assert (refused.subject, refused.subject_id) == (subject, 1)
        return str(refused)
    return None


def test_money_holds_let_through_what_fits_the_budget() -> None:
    book = Rollups().book()
    budget = Limits(nanos=1 * USD)
    holds = [book.hold(TOKEN, 1, budget, Ask(nanos=300_000_000)) for _ in range(3)]
    assert [h.nanos for h in holds] == [300_000_000] * 3
    assert refusal(book, TOKEN, budget, Ask(nanos=300_000_000)) == (
        "this request may cost up to $0.3000 but $0.1000 of the monthly budget of $1.00 "
        "is left")
    spent = book.settle_holds(holds[:1], True, Used(0, 10, 120_000_000))[1]
    assert spent == [Spend((TOKEN, 1, holds[0].month[2]), 0, 120_000_000)]
    assert book.usage_of(TOKEN, 1) == (1, 10, 120_000_000)
    assert book.hold(TOKEN, 1, budget, Ask(nanos=280_000_000)).nanos == 280_000_000  # 180 back


def test_a_spent_budget_is_reached() -> None:
    rollups = Rollups()
    rollups.tokens[1] = (3, 300, 5 * USD)
    refused = refusal(rollups.book(), TOKEN, Limits(nanos=5 * USD), Ask(nanos=1))
    assert refused == "monthly budget of $5.00 reached"


def test_without_max_tokens_one_request_at_a_time_holds_what_is_left() -> None:
    """Like the token quota: a request without max_tokens (least < most) may hold less,
    down to its prompt and one token's cost, one such hold at a time."""
    book = Rollups().book()
    budget = Limits(nanos=1 * USD)
    full = book.hold(TOKEN, 1, budget, Ask(nanos=700_000_000, least_nanos=1_000_000))
    short = book.hold(TOKEN, 1, budget, Ask(nanos=700_000_000, least_nanos=1_000_000))
    assert (full.nanos, full.nanos_shortened) == (700_000_000, False)
    assert (short.nanos, short.nanos_shortened) == (300_000_000, True)
    book.settle_holds([full], True, Used(0, 5, 100_000_000))  # 600,000,000 given back
    assert "may cost at least $0.0010" in (refusal(book, TOKEN, budget, Ask(
        nanos=700_000_000, least_nanos=1_000_000)) or "")  # one shortened hold at a time
    assert book.hold(TOKEN, 1, budget, Ask(nanos=500_000_000)).nanos == 500_000_000
    book.settle_holds([short], True, Used(0, 5, 350_000_000))  # 50,000,000 past its hold
    assert book.usage_of(TOKEN, 1).nanos == 450_000_000


def test_money_and_tokens_are_both_checked_before_anything_is_held() -> None:
    book = Rollups().book()
    limits = Limits(tokens=100, nanos=1 * USD)
    assert "token quota of 100" in (refusal(book, TOKEN, limits, Ask(200, nanos=1)) or "")
    assert "$1.00" in (refusal(book, TOKEN, limits, Ask(50, nanos=2 * USD)) or "")
    held = book.hold(TOKEN, 1, limits, Ask(100, nanos=1 * USD))  # nothing held by those
    assert (held.tokens, held.nanos) == (100, 1 * USD)


def test_an_endpoint_budget_counts_every_token_of_it() -> None:
    rollups = Rollups()
    rollups.endpoints[1] = (10, 1000, 900_000_000)
    book = rollups.book()
    budget = Limits(nanos=1 * USD)
    held = book.hold(ENDPOINT, 1, budget, Ask(nanos=60_000_000))
    assert "$0.0400 of the monthly budget of $1.00" in (
        refusal(book, ENDPOINT, budget, Ask(nanos=60_000_000)) or "")
    book.settle_holds([held], True, Used(0, 10, 100_000_000))
    assert refusal(book, ENDPOINT, budget, Ask(nanos=1)) == "monthly budget of $1.00 reached"
    assert rollups.reads == ["endpoint 1"]  # one read: the book kept count since
    assert book.usage_of(TOKEN, 1) == (0, 0, 0)  # a token of the same id is another subject


def test_one_request_settles_in_each_subject_once_and_its_row_is_written_once() -> None:
    """On a shared database the row is written under both months' gates; a row not
    written at once counts in both until the log writer reports it."""
    rollups = Rollups()
    book = rollups.book(reread=True)
    budget = Limits(nanos=1 * USD)
    holds = [book.hold(TOKEN, 1, budget, Ask(nanos=USD // 2)),
             book.hold(ENDPOINT, 1, budget, Ask(nanos=USD // 2))]
    writes: list[int] = []
    row = {"request_id": "r"}
    written, spends = book.settle_holds(holds, True, Used(0, 8, USD // 2),
                                        write=lambda: writes.append(1) is not None, row=row)
    assert (written, writes) == (False, [1])
    assert [(s.month[0], s.before, s.after) for s in spends] == [
        (TOKEN, 0, USD // 2), (ENDPOINT, 0, USD // 2)]
    rollups.tokens[1] = rollups.endpoints[1] = (0, 0, 0)  # not in the rollups yet
    assert "$0.5000 of the monthly budget" in (
        refusal(book, ENDPOINT, budget, Ask(nanos=USD)) or "")
    rollups.tokens[1] = rollups.endpoints[1] = (1, 8, USD // 2)  # the writer wrote it
    book.written([row])
    assert "$0.5000 of the monthly budget" in (refusal(book, TOKEN, budget, Ask(nanos=USD))
                                               or "")  # counted once


def test_release_gives_every_hold_back() -> None:
    book = Rollups().book()
    budget = Limits(requests=1, nanos=1 * USD)
    holds = [book.hold(TOKEN, 1, budget, Ask(nanos=USD)),
             book.hold(ENDPOINT, 1, budget, Ask(nanos=USD))]
    assert refusal(book, TOKEN, budget, Ask(nanos=1)) is not None
    book.release(holds)
    assert refusal(book, TOKEN, budget, Ask(nanos=USD)) is None
    assert refusal(book, ENDPOINT, budget, Ask(nanos=USD)) is None


# --- the estimate --------------------------------------------------------------------------

CHEAP = Price(Decimal("1"), Decimal("0.5"), Decimal("2"), "target")  # USD per million tokens
DEAR = Price(Decimal("3"), Decimal("1"), Decimal("15"), "target")
BODY = {"messages": [{"role": "user", "content": "x" * 397}]}
PROMPT = prompt_estimate(BODY)


def test_the_hold_is_the_request_at_the_dearest_target() -> None:
    held = cost_to_reserve("chat", {**BODY, "max_tokens": 1000}, 1024, [CHEAP, DEAR])
    assert held == (PROMPT * 3_000 + 1000 * 15_000,) * 2  # nanos: $3/M is 3,000 a token
    default = cost_to_reserve("chat", BODY, 1024, [DEAR, CHEAP])
    assert default == (PROMPT * 3_000 + 1024 * 15_000, PROMPT * 3_000 + 15_000)  # shrinks
    embed = cost_to_reserve("embeddings", {"input": "x" * 400}, 1024, [CHEAP])
    assert embed == (101 * 1_000, 101 * 1_000)  # 402 characters (quoted): 101 tokens


@pytest.mark.parametrize(("nanos", "shown"), [
    (5 * USD, "$5.00"), (1_234_567_890, "$1.23"), (42_000_000, "$0.0420"), (0, "$0.0000")])
def test_money_is_shown_as_the_window_shows_it(nanos: int, shown: str) -> None:
    assert usd(nanos) == shown


def test_a_budget_in_dollars_is_held_in_nanos() -> None:
    assert budget_nanos(Decimal("5.000001")) == 5_000_001_000
    assert budget_nanos(None) is None


# --- crossings -----------------------------------------------------------------------------

MONTH = dt.date(2026, 12, 1)


@pytest.mark.parametrize(("before", "after", "thresholds"), [
    (0, 79, []), (0, 80, [80]), (79, 100, [80, 100]), (80, 99, []), (99, 100, [100]),
    (100, 150, []), (0, 0, [])])
def test_a_threshold_is_crossed_once_by_the_request_that_reaches_it(
        before: int, after: int, thresholds: list[int]) -> None:
    spend = Spend((TOKEN, 7, MONTH), before * 10_000_000, after * 10_000_000)
    found = crossings(spend, "ci", 1 * USD)  # a $1 budget: 1 % is 10,000,000 nanos
    assert [c.threshold for c in found] == thresholds
    for crossing in found:
        assert crossing.body() == {
            "event": "budget.threshold", "subject": "token", "id": 7, "name": "ci",
            "threshold": crossing.threshold, "budget": 1.0, "spent": after / 100,
            "month": "2026-12-01", "currency": "USD"}


@pytest.mark.parametrize("url", ["", "https://hooks.example.com/budget", "http://10.0.0.5:8080/x"])
def test_the_webhook_option_takes_an_http_url_or_nothing(url: str) -> None:
    assert options.OPTIONS["budget_webhook_url"].check(url) == url


@pytest.mark.parametrize("url", ["ftp://example.com/x", "hooks.example.com", "https://", 5,
                                 "https://x.example/" + "a" * 2000])
def test_the_webhook_option_refuses_anything_else(url: object) -> None:
    with pytest.raises(ValueError, match="http:// or https:// URL"):
        options.OPTIONS["budget_webhook_url"].check(url)
