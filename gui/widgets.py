"""Small widgets the pages share: the error banner, overview cards, a sortable table, a
custom time range."""

from __future__ import annotations

from PySide6.QtCore import QDateTime, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateTimeEdit,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui.models.base import SORT_ROLE, RecordTableModel

BANNER_COLORS = {"error": ("#fdecea", "#8a1c12"), "info": ("#e8f1fb", "#0b3d6b"),
                 "ok": ("#e9f6ec", "#1d5e2c")}


class TimeRange(QWidget):
    """From and To pickers in local time, with calendar popups; `changed` when either is
    edited. `params()` is the range as the admin API takes it (`from`, `to` in UTC)."""

    changed = Signal()

    def __init__(self, days_back: int = 7, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        now = QDateTime.currentDateTime()
        self.start = _datetime_edit(now.addDays(-days_back))
        self.end = _datetime_edit(now)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for label, edit in (("From", self.start), ("To", self.end)):
            layout.addWidget(QLabel(label))
            layout.addWidget(edit)
            edit.editingFinished.connect(self.changed)

    def params(self) -> dict[str, str]:
        return {"from": _utc(self.start.dateTime()), "to": _utc(self.end.dateTime())}


def _datetime_edit(value: QDateTime) -> QDateTimeEdit:
    edit = QDateTimeEdit(value)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd HH:mm")
    return edit


def _utc(value: QDateTime) -> str:
    return value.toUTC().toString(Qt.DateFormat.ISODate)


class Banner(QFrame):
    """A non-modal message strip at the top of the window (errors stay until closed)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("✕")
        close.setFlat(True)
        close.setFixedWidth(28)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self._timer = QTimer(self, singleShot=True, timeout=self.hide)
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        background, foreground = BANNER_COLORS.get(kind, BANNER_COLORS["info"])
        self.setStyleSheet(f"#banner {{ background: {background}; border-radius: 4px; }}"
                           f"QLabel {{ color: {foreground}; }}")
        self.label.setText(text)
        self.show()
        if kind == "error":
            self._timer.stop()
        else:
            self._timer.start(4000)

    def show_error(self, error: object) -> None:
        self.show_message(str(getattr(error, "message", error)), "error")


class Card(QFrame):
    """A big number with a caption (overview)."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setStyleSheet("#card { border: 1px solid palette(mid); border-radius: 6px; }")
        self.value = QLabel("—")
        font = self.value.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.value.setFont(font)
        self.caption = QLabel(caption)
        self.caption.setStyleSheet("color: palette(dark);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.addWidget(self.value)
        layout.addWidget(self.caption)

    def set_value(self, text: str) -> None:
        self.value.setText(text)


class Table(QTableView):
    """A sortable, filterable view over a RecordTableModel (through a proxy model)."""

    def __init__(self, model: RecordTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)  # any column
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        model.modelReset.connect(self.resizeColumnsToContents)

    def filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)

    def selected_row(self) -> dict | None:
        indexes = self.selectionModel().selectedRows()
        if not indexes:
            return None
        return self.source.row(self.proxy.mapToSource(indexes[0]).row())
