"""How routes and budgets read in the resource tables: an endpoint's targets with each
one's health, the health of the targets using a provider, and a month's spend against a
budget (Endpoints, Providers and Tokens pages)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from PySide6.QtGui import QColor

from gui.models.base import Column
from gui.money import budget_level, budget_use, money

# In DejaVu Sans (what a Linux desktop falls back to): "⏸" and "⛔" were empty boxes.
HEALTH_MARKS = {"cooling": "❄", "half_open": "◐"}  # healthy: no mark
LEVEL_MARKS = {"warning": "⚠", "exceeded": "✖"}
LEVEL_COLORS = {"warning": QColor("#a15c00"), "exceeded": QColor("#b3261e")}
SHOWN_TARGETS = 2  # the rest are counted: "(+1)"


# --- health ------------------------------------------------------------------------------

def health_state(target: dict[str, Any]) -> str:
    return (target.get("health") or {}).get("state") or "healthy"


def health_text(health: dict[str, Any] | None) -> str:
    """"cooling for 12 s (3 recent failures); last error: 503 overloaded"; "healthy";
    "health not known" where the server did not say (it has no router yet)."""
    if not health:
        return "health not known"
    state = health.get("state") or "healthy"
    if state == "cooling":
        left = health.get("cooling_for_s")
        said = f"cooling for {left:.0f} s" if left is not None else "cooling"
    elif state == "half_open":
        said = "half-open (one request is trying it)"
    else:
        said = "healthy"
    failures = health.get("recent_failures") or 0
    if failures:
        said += f" ({failures} recent failure{'s' if failures != 1 else ''})"
    if health.get("last_error") and (state != "healthy" or failures):
        error, status = str(health["last_error"]), health.get("last_status")
        # The server's errors often name the status already ("... answered 503: ..."):
        # "last error: 503 provider x answered 503" said it twice.
        shown = f"{status} {error}" if status and str(status) not in error else error
        said += f"; last error: {shown}"
    return said


def target_label(target: dict[str, Any]) -> str:
    """"openai: gpt-4o", with a mark while it cools down or is half-open."""
    provider = target.get("provider") or f"#{target.get('provider_id')}"
    mark = HEALTH_MARKS.get(health_state(target))
    return f"{mark + ' ' if mark else ''}{provider}: {target.get('model') or '?'}"


def enabled_targets(row: dict[str, Any]) -> list[dict[str, Any]]:
    """An endpoint's enabled targets; a server from before routes: its one provider."""
    if "targets" not in row and row.get("model"):
        return [{"provider": row.get("provider"), "provider_id": row.get("provider_id"),
                 "model": row["model"]}]
    return [t for t in row.get("targets") or [] if t.get("enabled", True)]


def targets_text(row: dict[str, Any]) -> str:
    """"openai: gpt-4o → local: llama3 (+1)": the order tried; targets of one priority
    (sharing the load by weight) are joined by "|". Disabled targets are left out."""
    targets = enabled_targets(row)
    if not targets:
        return "—"
    text = target_label(targets[0])
    for before, target in pairwise(targets[:SHOWN_TARGETS]):
        joint = " | " if target.get("priority") == before.get("priority") else " → "
        text += joint + target_label(target)
    rest = len(targets) - SHOWN_TARGETS
    return f"{text} (+{rest})" if rest > 0 else text


def targets_tooltip(row: dict[str, Any]) -> str:
    """Every target, in the order tried, with its health."""
    lines = []
    for i, target in enumerate(row.get("targets") or [], 1):
        provider = target.get("provider") or f"#{target.get('provider_id')}"
        state = health_text(target.get("health")) if target.get("enabled", True) else (
            "disabled")
        lines.append(f"{i}. {provider}: {target.get('model')} (priority "
                     f"{target.get('priority', 0)}, weight {target.get('weight', 1)}) — {state}")
    return "\n".join(lines) or "no targets"


def unhealthy(targets: list[dict[str, Any]]) -> bool:
    return any(health_state(t) != "healthy" for t in targets)


def provider_targets_text(row: dict[str, Any]) -> str:
    """A provider's targets: "3 healthy", "2 targets, 1 cooling", "—" for none."""
    used = row.get("targets_health") or []
    if not used:
        return "—"
    states = [(t.get("health") or {}).get("state") or "healthy" for t in used]
    troubled = [f"{states.count(s)} {s.replace('_', '-')}"
                for s in ("cooling", "half_open") if s in states]
    if not troubled:
        return f"{len(used)} healthy"
    return f"{len(used)} target{'s' if len(used) != 1 else ''}, " + ", ".join(troubled)


def provider_targets_tooltip(row: dict[str, Any]) -> str:
    lines = [f"{t.get('endpoint') or t.get('endpoint_id')}: {t.get('model')} — "
             f"{health_text(t.get('health'))}" for t in row.get("targets_health") or []]
    return "\n".join(lines) or "no endpoint routes to this provider"


# --- budgets -----------------------------------------------------------------------------

def spend_level(row: dict[str, Any]) -> str:
    return budget_level(budget_use(row.get("spent_this_month"), row.get("monthly_budget")))


def spent_text(row: dict[str, Any]) -> str:
    """This month's spend, with how much of the budget it is from 80 %: "⚠ $4.10 (82 %)"."""
    spent, budget = row.get("spent_this_month"), row.get("monthly_budget")
    text = money(spent) if spent else "—"
    fraction = budget_use(spent, budget)
    mark = LEVEL_MARKS.get(budget_level(fraction))
    if mark is None or fraction is None:
        return text
    return f"{mark} {text} ({fraction * 100:.0f} %)"


def budget_text(value: Any) -> str:
    return "none" if value is None else money(value)


@dataclass(frozen=True)
class SpentColumn(Column):
    """This month's spend: sorts by the amount, reads with its mark against the budget."""

    def get(self, row: dict[str, Any]) -> Any:
        return float(row.get("spent_this_month") or 0)

    def show(self, row: dict[str, Any]) -> str:
        return spent_text(row)


def budget_columns() -> tuple[Column, Column]:
    """The Budget and Spent this month columns of the tokens and endpoints tables."""
    return (Column("monthly_budget", "Budget", text=budget_text, align_right=True),
            SpentColumn("spent_this_month", "Spent this month", align_right=True))
