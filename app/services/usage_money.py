"""Money from the daily rollups: what each token and endpoint spent this calendar month
(UTC), and where that stands against its monthly budget.

Spend is the sum of the costs stored with each request when its row was written
(usage_daily.cost_nanos), never a price applied now: a later price change leaves it as it
was. Requests with no known price count 0 (the rollups count them as `unpriced`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import peewee as pw

from app import prices
from app.models import Endpoint, Token, UsageDaily, utcnow

SUBJECTS = {"token": "token_id", "endpoint": "endpoint_id"}
WARNING_PERCENT = 80
EXCEEDED_PERCENT = 100


def month_start(now: dt.datetime | None = None) -> dt.date:
    """The first day of the calendar month (UTC) `now` is in."""
    now = now or utcnow()
    return dt.date(now.year, now.month, 1)


def month_spend(subject: str, now: dt.datetime | None = None) -> dict[int, int]:
    """Nanos spent this month per token id (`subject` "token") or endpoint id ("endpoint");
    ids with no spend are absent."""
    if subject not in SUBJECTS:
        raise ValueError(f"subject must be one of {', '.join(SUBJECTS)}")
    U = UsageDaily
    column = getattr(U, SUBJECTS[subject])
    query = (U.select(column, pw.fn.SUM(U.cost_nanos))
             .where(U.day >= month_start(now)).group_by(column).tuples())
    return {key: int(spent) for key, spent in query if key and spent}


def level(percent: float) -> str:
    """"ok", "warning" (at 80 % of the budget) or "exceeded" (at 100 %)."""
    if percent >= EXCEEDED_PERCENT:
        return "exceeded"
    return "warning" if percent >= WARNING_PERCENT else "ok"


def budget_status(subject: str, subject_id: int, name: str, budget: Decimal,
                  spent_nanos: int) -> dict[str, Any]:
    """One subject's budget as the overview lists it."""
    budget_nanos = prices.nanos(budget) or 0
    percent = spent_nanos * 100 / budget_nanos if budget_nanos > 0 else float(
        EXCEEDED_PERCENT)  # a budget of 0: nothing may be spent
    return {"subject": subject, "id": subject_id, "name": name, "budget": float(budget),
            "spent": round(spent_nanos / prices.NANOS_PER_USD, 6),
            "percent": round(percent, 2), "level": level(percent)}


def budgets(now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every token and endpoint with a monthly budget, its spend this month, the percent of
    the budget that is and its level; tokens first, then endpoints, each by name."""
    out = []
    for subject, model in (("token", Token), ("endpoint", Endpoint)):
        spend = month_spend(subject, now)
        subjects = (model.select(model.id, model.name, model.monthly_budget)
                    .where(model.monthly_budget.is_null(False)).order_by(model.name, model.id))
        out += [budget_status(subject, row.id, row.name, row.monthly_budget,
                              spend.get(row.id, 0)) for row in subjects]
    return out
