"""Overview: the numbers an admin looks at first, and requests per hour over the last day.

Clients' own mistakes (401 bad token, 429 limits: 4xx) are shown apart from upstream
errors (5xx: the provider or the server failed): counted together they read "33-71 %
errors" while every provider answered. A provider never checked is "not checked", not
down, and failing ones are named. The page refreshes itself while it is on screen.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QDateTime, QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.charts import TimeChart, msecs
from gui.money import money
from gui.pages.base import Context, Page
from gui.widgets import Card

CARDS = (("requests_today", "Requests today"), ("tokens_this_month", "Tokens this month"),
         ("cost_this_month", "Cost this month"), ("active_tokens", "Active tokens"),
         ("upstream_errors", "Upstream errors (24 h)"),
         ("client_errors", "Client errors (24 h)"),
         ("upstream_health", "Upstream health"))
CARD_TIPS = {"upstream_errors": "Answers 500 and above: a provider failed or timed out "
                                "(502, 504), or the server did",
             "client_errors": "Answers 400-499: a client's own mistake (bad or revoked "
                              "token 401/403, rate limit or quota 429, bad request 400)"}
REFRESH_MS = 30_000


def provider_state(provider: dict[str, Any]) -> str:
    """"ok", "failing", "not checked" or "disabled"."""
    if not provider.get("enabled", True):
        return "disabled"
    if provider.get("ok") is None:
        return "not checked"
    return "ok" if provider["ok"] else "failing"


def health_text(providers: list[dict[str, Any]]) -> str:
    """ "failing: openai-team", else "2 ok, 1 not checked"; disabled providers left out."""
    by_state: dict[str, list[str]] = {}
    for p in providers:
        by_state.setdefault(provider_state(p), []).append(p["name"])
    if "failing" in by_state:
        return "failing: " + ", ".join(by_state["failing"])
    counted = [f"{len(by_state[s])} {s}" for s in ("ok", "not checked") if s in by_state]
    return ", ".join(counted) or "no providers"


def health_details(providers: list[dict[str, Any]]) -> str:
    def state(p: dict[str, Any]) -> str:
        said = provider_state(p)
        if said == "not checked":
            return "not checked yet (Test connection on the Providers page checks it)"
        return f"failing: {p.get('error') or 'error'}" if said == "failing" else said
    return "\n".join(f"{p['name']}: {state(p)}" for p in providers) or "no providers"


def _errors(overview: dict[str, Any], kind: str) -> str:
    rate, count = overview.get(f"{kind}_error_rate_24h"), overview.get(f"{kind}_errors_24h")
    if rate is None or count is None:  # a server from before the split
        return "—"
    return f"{rate * 100:.1f} % ({count:,})"


def cost_text(overview: dict[str, Any]) -> str:
    """This month's cost in the server's currency, marked when some requests had no
    price (they are in the counts, not in the cost: `cost_tip` says how many)."""
    text = money(overview.get("cost_this_month") or 0, overview.get("currency") or "USD")
    return f"{text} *" if overview.get("unpriced_requests_this_month") else text


def cost_tip(overview: dict[str, Any]) -> str:
    unpriced = overview.get("unpriced_requests_this_month") or 0
    said = "At the prices when each request was made (calendar month, UTC)"
    if unpriced:
        said += (f".\n* {unpriced:,} request{'s' if unpriced != 1 else ''} used a model with no "
                 "price: not in the cost")
    return said


BUDGET_MARKS = {"warning": "⚠", "exceeded": "✖"}


def budget_warnings(overview: dict[str, Any]) -> list[str]:
    """One line per token or endpoint at 80 % of its monthly budget or more, the
    exceeded ones first: "✖ token laptop: $5.20 of $5.00 (104 %), budget reached"."""
    currency = overview.get("currency") or "USD"
    found = [b for b in overview.get("budgets") or [] if b.get("level") in BUDGET_MARKS]
    found.sort(key=lambda b: (b["level"] != "exceeded", -(b.get("percent") or 0)))
    lines = []
    for b in found:
        reached = ", budget reached" if b["level"] == "exceeded" else ""
        lines.append(f"{BUDGET_MARKS[b['level']]} {b['subject']} {b.get('name') or b['id']}: "
                     f"{money(b.get('spent'), currency)} of {money(b.get('budget'), currency)}"
                     f" ({b.get('percent') or 0:.0f} %){reached}")
    return lines


def card_texts(overview: dict[str, Any]) -> dict[str, str]:
    """What each card shows, from a /overview answer."""
    return {"requests_today": f"{overview['requests_today']:,}",
            "tokens_this_month": f"{overview['tokens_this_month']:,}",
            "cost_this_month": cost_text(overview),
            "active_tokens": f"{overview['active_tokens']:,}",
            "upstream_errors": _errors(overview, "upstream"),
            "client_errors": _errors(overview, "client"),
            "upstream_health": health_text(overview.get("upstream_health", []))}


class OverviewPage(Page):
    title = "Overview"

    def __init__(self, ctx: Context, parent: QWidget | None = None,
                 refresh_ms: int = REFRESH_MS) -> None:
        super().__init__(ctx, parent)
        self.cards = {key: Card(caption) for key, caption in CARDS}
        for key, tip in CARD_TIPS.items():
            self.cards[key].setToolTip(tip)
        grid = QGridLayout()
        grid.setSpacing(12)
        for i, card in enumerate(self.cards.values()):
            grid.addWidget(card, i // 4, i % 4, 1, 2 if i == len(CARDS) - 1 else 1)
        self.budgets = QLabel()
        self.budgets.setWordWrap(True)
        self.budgets.setStyleSheet("color: #8a1c12;")
        self.budgets.setToolTip("Tokens and endpoints at 80 % of their monthly budget or "
                                "more (calendar month, UTC)")
        self.budgets.hide()
        self.chart = TimeChart("Requests and errors per hour, last 24 h")
        self.updated = QLabel()
        self.updated.setStyleSheet("color: palette(dark);")
        refresh = QPushButton("Refresh")
        refresh.setToolTip(f"Reload (F5); the page also reloads every {refresh_ms // 1000} s")
        refresh.clicked.connect(self.refresh)
        header = QHBoxLayout()
        header.addWidget(QLabel(f"<h2>{self.title}</h2>"))
        header.addStretch(1)
        header.addWidget(self.updated)
        header.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addLayout(header)
        layout.addLayout(grid)
        layout.addWidget(self.budgets)
        layout.addWidget(self.chart, 1)
        # Only while on screen: a hidden page (another page shown, window in the tray)
        # costs the server nothing.
        self.timer = QTimer(self, interval=refresh_ms, timeout=self._tick)
        self._in_flight = False

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.timer.stop()

    def _tick(self) -> None:
        if self.isVisible() and not self._in_flight:
            self.refresh()

    def refresh(self) -> None:
        api = self.ctx.api

        def fetch() -> tuple[dict[str, Any], dict[str, Any]]:
            return api.get("/overview"), api.get("/usage", range="24h", bucket="hour")

        self._in_flight = True
        self.ctx.run(fetch, self._show, self._failed)

    def _failed(self, error: Any) -> None:
        self._in_flight = False
        self.ctx.banner.show_error(error)

    def _show(self, answers: tuple[dict[str, Any], dict[str, Any]]) -> None:
        self._in_flight = False
        overview, usage = answers
        for key, text in card_texts(overview).items():
            self.cards[key].set_value(text)
        providers = overview.get("upstream_health", [])
        self.cards["upstream_health"].setToolTip(health_details(providers))
        self.cards["cost_this_month"].setToolTip(cost_tip(overview))
        failing = any(provider_state(p) == "failing" for p in providers)
        self.cards["upstream_health"].value.setStyleSheet("color: #8a1c12;" if failing else "")
        warnings = budget_warnings(overview)
        self.budgets.setText("Monthly budgets:\n" + "\n".join(warnings))
        self.budgets.setVisible(bool(warnings))
        self.updated.setText("updated " + QDateTime.currentDateTime().toString("HH:mm:ss"))
        self._plot(usage)
        self.loaded.emit()

    def _plot(self, usage: dict[str, Any]) -> None:
        points = usage["series"][0]["points"] if usage.get("series") else []
        requests = [(msecs(p["t"]), p["requests"]) for p in points]
        upstream = [(msecs(p["t"]), p.get("upstream_errors", p["errors"])) for p in points]
        client = [(msecs(p["t"]), p.get("client_errors", 0)) for p in points]
        self.chart.plot([("Requests", requests), ("Upstream errors", upstream),
                         ("Client errors", client)], "Requests per hour")
