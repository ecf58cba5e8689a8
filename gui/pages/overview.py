"""Overview: the numbers an admin looks at first, and requests per hour over the last day."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.charts import TimeChart, msecs
from gui.models.usage import money
from gui.pages.base import Context, Page
from gui.widgets import Card

CARDS = (("requests_today", "Requests today"), ("tokens_this_month", "Tokens this month"),
         ("error_rate_24h", "Error rate (24 h)"), ("active_tokens", "Active tokens"),
         ("cost_this_month", "Cost this month"), ("upstream_health", "Upstream health"))


def health_text(providers: list[dict[str, Any]]) -> str:
    """ "2/2 providers ok": enabled providers whose last check passed."""
    enabled = [p for p in providers if p.get("enabled", True)]
    if not enabled:
        return "no providers"
    ok = sum(1 for p in enabled if p.get("ok") is True)
    return f"{ok}/{len(enabled)} providers ok"


def health_details(providers: list[dict[str, Any]]) -> str:
    def state(p: dict[str, Any]) -> str:
        if not p.get("enabled", True):
            return "disabled"
        if p.get("ok") is None:
            return "not checked yet"
        return "ok" if p["ok"] else f"failing: {p.get('error') or 'error'}"
    return "\n".join(f"{p['name']}: {state(p)}" for p in providers) or "no providers"


def card_texts(overview: dict[str, Any]) -> dict[str, str]:
    """What each card shows, from a /overview answer."""
    return {"requests_today": f"{overview['requests_today']:,}",
            "tokens_this_month": f"{overview['tokens_this_month']:,}",
            "error_rate_24h": f"{overview['error_rate_24h'] * 100:.1f} %",
            "active_tokens": f"{overview['active_tokens']:,}",
            "cost_this_month": money(overview["cost_this_month"]),
            "upstream_health": health_text(overview.get("upstream_health", []))}


class OverviewPage(Page):
    title = "Overview"

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.cards = {key: Card(caption) for key, caption in CARDS}
        grid = QGridLayout()
        grid.setSpacing(12)
        for i, card in enumerate(self.cards.values()):
            grid.addWidget(card, i // 3, i % 3)
        self.chart = TimeChart("Requests and errors per hour, last 24 h")
        refresh = QPushButton("Refresh")
        refresh.setToolTip("Reload (F5)")
        refresh.clicked.connect(self.refresh)
        header = QHBoxLayout()
        header.addWidget(QLabel(f"<h2>{self.title}</h2>"))
        header.addStretch(1)
        header.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addLayout(header)
        layout.addLayout(grid)
        layout.addWidget(self.chart, 1)

    def refresh(self) -> None:
        api = self.ctx.api

        def fetch() -> tuple[dict[str, Any], dict[str, Any]]:
            return api.get("/overview"), api.get("/usage", range="24h", bucket="hour")

        self.ctx.run(fetch, self._show)

    def _show(self, answers: tuple[dict[str, Any], dict[str, Any]]) -> None:
        overview, usage = answers
        for key, text in card_texts(overview).items():
            self.cards[key].set_value(text)
        self.cards["upstream_health"].setToolTip(
            health_details(overview.get("upstream_health", [])))
        self._plot(usage)
        self.loaded.emit()

    def _plot(self, usage: dict[str, Any]) -> None:
        points = usage["series"][0]["points"] if usage.get("series") else []
        requests = [(msecs(p["t"]), p["requests"]) for p in points]
        errors = [(msecs(p["t"]), p["errors"]) for p in points]
        self.chart.plot([("Requests", requests), ("Errors", errors)], "Requests per hour")
