"""Money reads the same in every column and label (gui/money.py)."""

from __future__ import annotations

from gui.money import budget_level, budget_use, cost, money, priced_total


def test_dollars_and_cents_from_a_dollar_up() -> None:
    assert money(1) == "$1.00"
    assert money(1.234) == "$1.23"
    assert money(1234.5) == "$1,234.50"
    assert money(0.99996) == "$1.00"  # rounds up to a dollar: written as dollars


def test_four_decimals_below_a_dollar() -> None:
    assert money(0.0042) == "$0.0042"
    assert money(0.5) == "$0.5000"
    assert money(0.0001) == "$0.0001"


def test_a_tiny_amount_is_not_shown_as_nothing() -> None:
    assert money(0.000048) == "$0.000048"  # one short request at $1/M tokens
    assert money(1.2e-9) == "$0.0000000012"
    assert money(0) == "$0.00"


def test_no_amount_and_other_currencies() -> None:
    assert money(None) == "—"
    assert money(2, "EUR") == "2.00 EUR"
    assert money(-0.5) == "-$0.5000"


def test_a_cost_says_no_price_only_where_tokens_were_used() -> None:
    assert cost(None, used_tokens=True) == "no price"
    assert cost(None) == "—"  # refused before any model was asked
    assert cost(0, used_tokens=True) == "—"
    assert cost(0.0042, used_tokens=True) == "$0.0042"


def test_a_usage_total_names_unpriced_requests() -> None:
    assert priced_total(0, 0) == "—"
    assert priced_total(0, 3) == "no price"
    assert priced_total(1.5, 2) == "$1.50 + no price"
    assert priced_total(1.5) == "$1.50"


def test_budget_levels_are_the_servers() -> None:
    assert budget_use(4, None) is None
    assert budget_use(4, 5) == 0.8
    assert budget_use(0, 0) == 1.0  # a zero budget allows nothing
    assert [budget_level(f) for f in (None, 0.79, 0.8, 0.99, 1.0, 1.7)] == [
        "ok", "ok", "warning", "warning", "exceeded", "exceeded"]
