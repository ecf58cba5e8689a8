"""How the window writes money: one place, so every column and label reads alike.

`$1.23` from a dollar up (2 decimals), `$0.0042` below (4 decimals, where a request's cost
lives), two significant digits below $0.0001 (`$0.000048`: a tiny cost is not shown as
nothing). A cost that is unknown because the model has no price reads "no price"; no cost
at all reads "—". The server gives amounts in US dollars (`currency` "USD")."""

from __future__ import annotations

from typing import Any

NOTHING = "—"
NO_PRICE = "no price"
SYMBOLS = {"USD": "$"}


def money(value: Any, currency: str = "USD") -> str:
    """An amount ("—" for none): `$1,234.50`, `$0.0042`, `$0.000048`, `$0.00`."""
    if value is None:
        return NOTHING
    amount = float(value)
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if amount == 0:
        digits = "0.00"
    elif round(amount, 4) >= 1:
        digits = f"{amount:,.2f}"
    elif round(amount, 4) >= 0.0001:
        digits = f"{amount:.4f}"
    else:
        digits = _tiny(amount)
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {currency}"


def _tiny(amount: float) -> str:
    """Below 0.0001: two significant digits, written out ("0.000048", not "4.8e-05")."""
    exponent = int(f"{amount:.1e}".split("e")[1])  # "4.8e-05": -5
    return f"{amount:.{1 - exponent}f}".rstrip("0")


def cost(value: Any, used_tokens: bool = False, currency: str = "USD") -> str:
    """What something cost: "no price" for an unknown cost where tokens were used (the
    model had no price), "—" where nothing was spent, else the amount."""
    if value is None:
        return NO_PRICE if used_tokens else NOTHING
    return NOTHING if float(value) == 0 else money(value, currency)


def priced_total(value: Any, unpriced_requests: int = 0, currency: str = "USD") -> str:
    """A usage total: the amount; "no price" when every request that used tokens had none
    (nothing counted), the amount with "+ no price" when some of them had none."""
    if not float(value or 0):
        return NO_PRICE if unpriced_requests else NOTHING
    amount = money(value, currency)
    return f"{amount} + {NO_PRICE}" if unpriced_requests else amount


def budget_use(spent: Any, budget: Any) -> float | None:
    """How much of a budget is spent, as a fraction (1.0 = all); None without a budget."""
    if budget is None:
        return None
    budget = float(budget)
    spent = float(spent or 0)
    return spent / budget if budget > 0 else 1.0  # a zero budget allows nothing


def budget_level(fraction: float | None) -> str:
    """"ok", "warning" (>= 80 %) or "exceeded" (>= 100 %), as the server's overview says."""
    if fraction is None or fraction < 0.8:
        return "ok"
    return "warning" if fraction < 1.0 else "exceeded"
