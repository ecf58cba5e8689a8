"""Small widgets the pages share: the error banner, overview cards, a sortable table, a
custom time range."""

from __future__ import annotations

from PySide6.QtCore import QDateTime, QEvent, QObject, QSortFilterProxyModel, Qt, QTimer, Signal
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
    """A non-modal message strip (errors stay until closed, others go after 4 s).

    In the window it floats over the bottom edge of the page (`attach`) instead of taking
    a place in the layout: appearing or going, it moved the page by 40-46 px, and clicks
    meant for one row landed on the next. An "unreachable" error is marked, so the next
    call that gets an answer can clear it (`server_answered`)."""

    reachability_lost = Signal()  # an "unreachable" error is shown

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
        self.unreachable = False
        self._host: QWidget | None = None
        self.hide()

    def attach(self, host: QWidget) -> None:
        """Float over the bottom of `host`, following its size, above its children."""
        self._host = host
        self.setParent(host)
        host.installEventFilter(self)
        self.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._host and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        if self._host is None:
            return
        margin = 8
        self.layout().activate()  # the height for the text just set, not the last one
        width = max(0, self._host.width() - 2 * margin)
        height = self.heightForWidth(width) if self.hasHeightForWidth() else -1
        height = max(height, self.sizeHint().height())
        self.setGeometry(margin, self._host.height() - height - margin, width, height)
        self.raise_()

    def show_message(self, text: str, kind: str = "error") -> None:
        background, foreground = BANNER_COLORS.get(kind, BANNER_COLORS["info"])
        self.setStyleSheet(f"#banner {{ background: {background}; border-radius: 4px;"
                           f" border: 1px solid {foreground}; }}"
                           f"QLabel {{ color: {foreground}; }}")
        self.label.setText(text)
        self.unreachable = False
        self._place()
        self.show()
        if kind == "error":
            self._timer.stop()
        else:
            self._timer.start(4000)

    def show_error(self, error: object) -> None:
        self.show_message(str(getattr(error, "message", error)), "error")
        if getattr(error, "code", None) == "unreachable":
            self.unreachable = True
            self.reachability_lost.emit()

    def server_answered(self) -> None:
        """A call got an answer: an "unreachable" error is no longer true."""
        if self.unreachable and not self.isHidden():
            self.show_message("Connected to the server again.", "ok")
        self.unreachable = False


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
