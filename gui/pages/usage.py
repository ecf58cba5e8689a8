"""Usage: requests, tokens and cost over time, per group, and a breakdown table."""

from __future__ import annotations

import csv
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.charts import TimeChart, msecs
from gui.models.usage import UsageBreakdownModel, group_name
from gui.money import money
from gui.pages.base import Context, Page
from gui.widgets import Table, TimeRange

RANGES = (("Last 24 hours", "24h"), ("Last 7 days", "7d"), ("Last 30 days", "30d"),
          ("Custom…", "custom"))
GROUPS = (("No grouping", None), ("By token", "token"), ("By endpoint", "endpoint"),
          ("By model", "model"), ("By provider", "provider"),
          ("By client dialect", "client_dialect"), ("By provider dialect", "provider_dialect"),
          ("By agent session (kept log rows)", "agent_session"))
# metric: (label, axis title, value of a point, decimals)
METRICS = {
    "requests": ("Requests", "Requests", lambda p: p["requests"], 0),
    "errors": ("Errors", "Errors", lambda p: p["errors"], 0),
    "tokens": ("Tokens", "Model tokens", lambda p: p["prompt_tokens"] + p["completion_tokens"],
               0),
    "cost": ("Cost", "Cost", lambda p: p["cost"], 4),
}
MAX_LINES = 8  # more groups than this: the rest are summed into "other"


def chart_lines(usage: dict[str, Any], metric: str) -> list[tuple[str, list[tuple[int, float]]]]:
    """One line per group (the biggest MAX_LINES, then "other") of one metric."""
    value = METRICS[metric][2]
    series = usage.get("series", [])
    lines = [(group_name(s), [(msecs(p["t"]), value(p)) for p in s["points"]])
             for s in series[:MAX_LINES]]
    rest = series[MAX_LINES:]
    if rest:
        sums = [(msecs(p["t"]), sum(value(s["points"][i]) for s in rest))
                for i, p in enumerate(rest[0]["points"])]
        lines.append(("other", sums))
    return lines


def totals_text(usage: dict[str, Any]) -> str:
    t = usage.get("totals", {})
    return (f"Total: {t.get('requests', 0):,} requests, {t.get('errors', 0):,} errors, "
            f"{t.get('prompt_tokens', 0) + t.get('completion_tokens', 0):,} tokens, "
            f"cost {money(t.get('cost') or 0)}"
            + _unpriced_note(t.get("unpriced_requests") or 0))


def _unpriced_note(unpriced: int) -> str:
    """Requests whose model has no price are in the counts but not in the cost."""
    return (f" ({unpriced:,} request{'s' if unpriced != 1 else ''} with no price, not in the "
            "cost)") if unpriced else ""


class UsagePage(Page):
    title = "Usage"

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.usage: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.model = UsageBreakdownModel(self)
        self.table = Table(self.model)
        self.table.sortByColumn(self.model.column_index("requests"),
                                Qt.SortOrder.DescendingOrder)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.chart = TimeChart()
        self.totals = QLabel()
        self._build_controls()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.chart)
        splitter.addWidget(self.table)
        splitter.setSizes([420, 260])
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addLayout(self.toolbar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.totals)

    def _build_controls(self) -> None:
        self.range = _combo(RANGES)
        self.group = _combo(GROUPS)
        self.metric = _combo([(label, key) for key, (label, *_rest) in METRICS.items()])
        self.custom = TimeRange()
        self.toolbar = QHBoxLayout()
        self.toolbar.addWidget(QLabel(f"<h2>{self.title}</h2>"))
        self.toolbar.addSpacing(16)
        for label, widget in (("Range", self.range), ("Group", self.group)):
            self.toolbar.addWidget(QLabel(label))
            self.toolbar.addWidget(widget)
        self.toolbar.addWidget(self.custom)
        self.toolbar.addStretch(1)
        self.toolbar.addWidget(QLabel("Chart"))
        self.toolbar.addWidget(self.metric)
        self.toolbar.addWidget(_button("Export CSV…", self._ask_export))
        self.toolbar.addWidget(_button("Refresh", self.refresh))
        self.custom.setVisible(False)
        self.range.currentIndexChanged.connect(self._range_changed)
        self.group.currentIndexChanged.connect(self.refresh)
        self.custom.changed.connect(self.refresh)
        self.metric.currentIndexChanged.connect(self._plot)

    def _range_changed(self) -> None:
        self.custom.setVisible(self.range.currentData() == "custom")
        self.refresh()

    def query(self) -> dict[str, Any]:
        """The /usage parameters the controls ask for."""
        params: dict[str, Any] = {"group_by": self.group.currentData()}
        if self.range.currentData() == "custom":
            params.update(self.custom.params())
        else:
            params["range"] = self.range.currentData()
        return params

    def refresh(self) -> None:
        params = self.query()
        self.params = params
        api = self.ctx.api
        self.ctx.run(lambda: (params, api.get("/usage", **params)), self._show)

    def _show(self, answer: tuple[dict[str, Any], dict[str, Any]]) -> None:
        params, usage = answer
        if params != self.params:  # the controls changed while this was on its way
            return
        self.usage = usage
        self.model.set_usage(usage)
        self.totals.setText(totals_text(usage))
        self._plot()
        self.loaded.emit()

    def _plot(self) -> None:
        if not self.usage:
            return
        metric = self.metric.currentData()
        label, axis_title, _value, decimals = METRICS[metric]
        bucket = self.usage.get("bucket", "hour")
        self.chart.chart().setTitle(f"{label} per {bucket}")
        self.chart.plot(chart_lines(self.usage, metric), axis_title, bucket, decimals)

    def _ask_export(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(self, "Export usage breakdown",
                                                    "usage.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """Write the breakdown table (header and rows) to `path`."""
        try:
            with open(path, "w", newline="", encoding="utf-8") as out:
                csv.writer(out).writerows(self.model.csv_rows())
        except OSError as exc:
            self.ctx.banner.show_message(f"Could not write {path}: {exc.strerror}")
            return
        self.ctx.banner.show_message(f"Exported {len(self.model.rows)} rows to {path}", "ok")


def _combo(options: Any) -> QComboBox:
    combo = QComboBox()
    for label, data in options:
        combo.addItem(label, data)
    return combo


def _button(text: str, slot: Any) -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(slot)
    return button

