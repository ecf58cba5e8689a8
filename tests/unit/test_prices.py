"""The shipped price table and what a request costs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app import prices


def test_the_table_says_its_currency_unit_and_date() -> None:
    table = prices.table()
    assert (table["currency"], table["unit"]) == ("USD", "per million tokens")
    assert len(table["taken"]) == 10 and table["source"]
    for models in table["types"].values():
        for entry in models.values():
            assert set(entry) == {"input", "cached_input", "output"}
            assert all(isinstance(v, int | float) and v >= 0 for v in entry.values())


@pytest.mark.parametrize(("provider_type", "model", "expected"), [
    ("openai", "gpt-4o", ("2.5", "1.25", "10.0")),
    ("openai", "gpt-4o-2024-08-06", ("2.5", "1.25", "10.0")),  # a dated snapshot
    ("anthropic", "claude-sonnet-4-5-20250929", ("3.0", "0.3", "15.0")),
    ("openrouter", "openai/gpt-4o-mini", ("0.15", "0.075", "0.6")),  # the vendor's price
    ("openrouter", "anthropic/claude-sonnet-4.5", ("3.0", "0.3", "15.0")),
])
def test_lookup_finds_models_by_their_names_and_snapshots(provider_type, model,
                                                          expected) -> None:
    price = prices.lookup(provider_type, model)
    assert price is not None
    assert (price.input, price.cached_input, price.output) == tuple(map(Decimal, expected))
    assert price.source == f"table {prices.table()['taken']}"


@pytest.mark.parametrize(("provider_type", "model"), [
    ("openai_compatible", "llama3"), ("openai", "gpt-unknown"), ("echo", "echo-model"),
    ("openrouter", "nobody/gpt-4o"), ("openai", ""),
])
def test_unknown_models_have_no_price(provider_type, model) -> None:
    assert prices.lookup(provider_type, model) is None


def test_a_targets_own_prices_win_and_cached_falls_back_to_input() -> None:
    own = prices.for_target("openai", "gpt-4o", Decimal("1"), None, Decimal("2"))
    assert own == prices.Price(Decimal(1), Decimal(1), Decimal(2), "target")
    assert prices.for_target("openai", "gpt-4o", Decimal("1"), None, None).source != "target"
    assert prices.for_target("openai_compatible", "llama3", None, None, None) is None


def test_cost_in_nanos_counts_cached_input_at_its_own_price() -> None:
    price = prices.Price(Decimal("2.5"), Decimal("1.25"), Decimal("10"), "target")
    # 1,000 prompt tokens of which 400 cached, 200 completion tokens:
    # 600 * 2.5 + 400 * 1.25 + 200 * 10 = 4,000 USD per million = $0.004.
    assert price.cost_nanos(1000, 400, 200) == 4_000_000
    assert prices.usd(price.cost_nanos(1000, 400, 200)) == 0.004
    assert price.cost_nanos(0, 0, 0) == 0
    assert price.cost_nanos(10, 50, 0) == price.cost_nanos(10, 10, 0)  # cached <= prompt
    cheapest = prices.Price(Decimal("0.005"), Decimal("0.005"), Decimal("0"), "target")
    assert cheapest.cost_nanos(1, 0, 0) == 5


def test_usd_and_nanos_round_trip() -> None:
    assert prices.nanos(Decimal("5.25")) == 5_250_000_000
    assert prices.usd(5_250_000_000) == 5.25
    assert prices.nanos(None) is None and prices.usd(None) is None
