"""QtCharts helpers: a time-series chart with a date/time axis, value axis and legend."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from PySide6.QtCharts import QChart, QChartView, QDateTimeAxis, QLineSeries, QValueAxis
from PySide6.QtCore import QDateTime, QMargins, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QWidget

Points = Sequence[tuple[int, float]]  # (msecs since the epoch, value)
MAX_MARKERS = 48  # draw point markers while a line has few enough points to tell apart


def msecs(iso: str) -> int:
    """An API time ("2026-05-01T14:00:00Z") as msecs since the epoch (for the axes)."""
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def nice_max(value: float) -> float:
    """A round upper bound a little above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    return next(step * scale for step in (1, 2, 5, 10) if step * scale >= value * 1.05)


class TimeChart(QChartView):
    """Lines over time on one date/time axis and one value axis; `plot` replaces the lines."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        chart = QChart()
        chart.setTitle(title)
        chart.setMargins(QMargins(6, 6, 6, 6))
        chart.legend().setVisible(True)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        self.x_axis = QDateTimeAxis()
        self.x_axis.setTickCount(7)
        self.x_axis.setTitleText("Time (local)")
        self.y_axis = QValueAxis()
        self.y_axis.setTickCount(6)
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.setChart(chart)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(240)

    def plot(self, lines: Sequence[tuple[str, Points]], y_title: str, bucket: str = "hour",
             decimals: int = 0) -> None:
        """One line per (name, points); the time axis shows hours or days per `bucket`."""
        chart = self.chart()
        chart.removeAllSeries()
        self._fit_time_axis(lines, bucket)
        self._fit_value_axis(lines, y_title, decimals)
        for name, points in lines:
            series = QLineSeries(name=name)
            for t, value in points:
                series.append(float(t), float(value))
            series.setPointsVisible(len(points) <= MAX_MARKERS)
            chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)

    def _fit_time_axis(self, lines: Sequence[tuple[str, Points]], bucket: str) -> None:
        times = [t for _name, points in lines for t, _v in points]
        now = QDateTime.currentMSecsSinceEpoch()
        low, high = (min(times), max(times)) if times else (now - 86_400_000, now)
        if low == high:
            high = low + (3_600_000 if bucket == "hour" else 86_400_000)
        self.x_axis.setRange(QDateTime.fromMSecsSinceEpoch(low),
                             QDateTime.fromMSecsSinceEpoch(high))
        span_days = (high - low) / 86_400_000
        # a tick on every day while that stays readable, else six even steps
        days = round(span_days)
        self.x_axis.setTickCount(days + 1 if bucket == "day" and days <= 14 else 7)
        self.x_axis.setFormat("HH:mm" if span_days <= 1.1 else
                              "MMM d HH:mm" if bucket == "hour" else "MMM d")

    def _fit_value_axis(self, lines: Sequence[tuple[str, Points]], title: str,
                        decimals: int) -> None:
        top = max((v for _name, points in lines for _t, v in points), default=0.0)
        high = nice_max(top)
        self.y_axis.setRange(0, max(high, 5.0) if decimals == 0 else high)
        self.y_axis.setLabelFormat(f"%.{decimals}f")
        self.y_axis.setTitleText(title)
