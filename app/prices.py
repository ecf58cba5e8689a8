"""What models cost: the price table shipped in `app/data/prices.json` (per provider type
and model, USD per million tokens, with the date it was taken) and a target's own prices,
which win over it. A request's cost is computed once, when its row is written, and stored:
a later price change does not touch history.

Costs are integers in billionths of a US dollar ("nanos"): exact and additive on SQLite and
PostgreSQL alike, and fine enough for one token of the cheapest model ($0.005 per million
tokens is 5 nanos a token).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

TABLE_FILE = Path(__file__).parent / "data" / "prices.json"
CURRENCY = "USD"
NANOS_PER_USD = 1_000_000_000
# A model's dated snapshot costs what the model does: claude-sonnet-4-5-20250929, gpt-4o-2024-08-06.
_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")  # OpenRouter's claude-sonnet-4.5


@dataclass(frozen=True)
class Price:
    """USD per million tokens: uncached input, cached input, output."""

    input: Decimal
    cached_input: Decimal
    output: Decimal
    source: str  # "table 2025-11-01" or "target"

    def __post_init__(self) -> None:
        # Nanos per token as floats, once: Decimal arithmetic cost ~1 µs a request on the
        # hot path, and a float's error here is far below a nano.
        object.__setattr__(self, "_per_token", (float(self.input) * 1000,
                                                float(self.cached_input) * 1000,
                                                float(self.output) * 1000))

    def cost_nanos(self, prompt: int, cached: int, completion: int) -> int:
        """The cost of a request's tokens (`cached` is part of `prompt`), in nanos."""
        cached = min(max(cached, 0), max(prompt, 0))
        uncached, cached_price, output = self._per_token  # type: ignore[attr-defined]
        return round((prompt - cached) * uncached + cached * cached_price
                     + completion * output)

    def to_dict(self) -> dict[str, Any]:
        return {"input": float(self.input), "cached_input": float(self.cached_input),
                "output": float(self.output), "source": self.source}


@cache
def table() -> dict[str, Any]:
    """The shipped price table, as the file holds it."""
    return json.loads(TABLE_FILE.read_text(encoding="utf-8"))


def lookup(provider_type: str, model: str) -> Price | None:
    """The shipped price of `model` at a provider of `provider_type`: the model's own entry,
    else its dated snapshot's model, else (a vendor-prefixed name, as OpenRouter's
    openai/gpt-4o) the vendor's price of the rest; None when the table has none."""
    found = _entry(provider_type, model)
    if found is None and "/" in model:
        vendor, _, rest = model.partition("/")
        found = _entry(vendor, rest)
    if found is None:
        return None
    taken = table()["taken"]
    return Price(_usd(found["input"]), _usd(found.get("cached_input", found["input"])),
                 _usd(found["output"]), f"table {taken}")


def for_target(provider_type: str, model: str, price_input: Decimal | None,
               price_cached_input: Decimal | None,
               price_output: Decimal | None) -> Price | None:
    """A target's price: its own where it sets input and output (cached input falling back
    to its input price), else the table's."""
    if price_input is not None and price_output is not None:
        cached = price_input if price_cached_input is None else price_cached_input
        return Price(Decimal(price_input), Decimal(cached), Decimal(price_output), "target")
    return lookup(provider_type, model)


def usd(nanos: int | None) -> float | None:
    """Nanos as US dollars (None stays None)."""
    return None if nanos is None else nanos / NANOS_PER_USD


def nanos(amount: Decimal | float | int | None) -> int | None:
    """US dollars as nanos (None stays None)."""
    return None if amount is None else int(Decimal(str(amount)) * NANOS_PER_USD)


def _entry(provider_type: str, model: str) -> dict[str, Any] | None:
    models = table()["types"].get(provider_type) or {}
    for name in (model, _DATE_SUFFIX.sub("", model)):
        for spelling in (name, _DOTTED_VERSION.sub("-", name)):
            if spelling in models:
                return models[spelling]
    return None


def _usd(value: float | int | str) -> Decimal:
    return Decimal(str(value))
