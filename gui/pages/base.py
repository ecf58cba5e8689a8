"""What every page has: a title, a refresh, access to the API, the task runner and the
banner; and TablePage, the common shape of a page that lists one resource."""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.api import AdminAPI, APIError
from gui.dialogs import confirm as ask
from gui.models.base import RecordTableModel
from gui.tasks import Tasks
from gui.widgets import Banner, Table


def show_dialog(dialog: QDialog) -> QDialog:
    """Open a dialog window-modal without blocking; it is deleted once closed."""
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def alive(callback: Any) -> bool:
    """False for a bound method of a widget already deleted (a dialog closed before its
    call answered), which Qt would have dropped had it been connected directly."""
    owner = getattr(callback, "__self__", None)
    return not isinstance(owner, QObject) or shiboken6.isValid(owner)


class Context:
    """What pages and dialogs are given: the API, the task runner, the banner.

    While the banner says the server cannot be reached, the server's health is asked
    every few seconds, and any call that gets an answer clears that banner."""

    def __init__(self, api: AdminAPI, tasks: Tasks, banner: Banner,
                 probe_interval_ms: int = 5000) -> None:
        self.api = api
        self.tasks = tasks
        self.banner = banner
        self._probe = QTimer(interval=probe_interval_ms, timeout=self._probe_health)
        banner.reachability_lost.connect(self._probe.start)

    @property
    def read_only(self) -> bool:
        return not self.api.is_admin

    def run(self, fn: Any, on_done: Any = None, on_error: Any = None) -> None:
        """Run an API call off the GUI thread; errors go to the banner unless handled."""
        def answered(result: Any) -> None:
            self._answered()
            if on_done is not None and alive(on_done):
                on_done(result)
        self.tasks.run(fn, answered, on_error or self.banner.show_error)

    def _answered(self) -> None:
        self._probe.stop()
        self.banner.server_answered()

    def _probe_health(self) -> None:
        if not self.banner.unreachable:
            self._probe.stop()
            return
        self.tasks.run(self.api.health, lambda _health: self._answered(), lambda _error: None)


class Page(QWidget):
    title = ""
    # Fetched again each time the page is shown, not only the first: set where what it
    # shows moves with traffic (a target's health, a month's spend), which a page kept
    # from an earlier visit showed stale ("healthy" for a target cooling down).
    refresh_on_return = False
    loaded = Signal()  # emitted after a refresh has put fresh data on the page

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx

    def refresh(self) -> None:
        """Fetch the page's data again (F5)."""

    def new_item(self) -> None:
        """Ctrl+N: start adding whatever the page lists (if anything)."""

    def focus_search(self) -> None:
        """Ctrl+F."""


class TablePage(Page):
    """A toolbar (search, buttons) over a sortable, filterable table of one resource."""

    resource = ""  # the admin API collection, e.g. "providers"
    noun = ""  # how messages name one row, e.g. "Provider"

    def __init__(self, ctx: Context, model: RecordTableModel,
                 parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.model = model
        self.table = Table(model)
        self.search = QLineEdit(placeholderText="Filter…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.table.filter)
        self.toolbar = QHBoxLayout()
        heading = QLabel(f"<h2>{self.title}</h2>")
        self.toolbar.addWidget(heading)
        self.toolbar.addStretch(1)
        self.toolbar.addWidget(self.search)
        layout = QVBoxLayout(self)
        layout.addLayout(self.toolbar)
        layout.addWidget(self.table, 1)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):  # Enter opens a row, like a double-click
            QShortcut(QKeySequence(key), self.table, self.open_selected,
                      context=Qt.ShortcutContext.WidgetShortcut)

    def add_button(self, text: str, slot: Any, writes: bool = True,
                   needs_selection: bool = False) -> QPushButton:
        button = QPushButton(text)
        button.clicked.connect(slot)
        if writes and self.ctx.read_only:
            button.setEnabled(False)
            button.setToolTip("Viewers can only read")
        elif needs_selection:
            button.setEnabled(False)
            self.table.selectionModel().selectionChanged.connect(
                lambda *_: button.setEnabled(self.table.selected_row() is not None))
        self.toolbar.addWidget(button)
        return button

    def refresh(self) -> None:
        self.ctx.run(lambda: self.ctx.api.items(self.resource), self._show)

    def _show(self, rows: list[dict[str, Any]]) -> None:
        self.model.set_rows(rows)
        self.loaded.emit()

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def make_add_dialog(self) -> QDialog | None:
        """The dialog that adds one (pages that add things return one)."""
        return None

    def make_edit_dialog(self, row: dict[str, Any]) -> QDialog | None:
        """The dialog that edits `row` (pages that edit things return one)."""
        return None

    def new_item(self) -> None:
        dialog = None if self.ctx.read_only else self.make_add_dialog()
        if dialog is not None:
            show_dialog(dialog)

    def open_selected(self) -> None:
        """Double-click or Enter on a row: the edit dialog, for those who may edit."""
        row = self.table.selected_row()
        dialog = None if row is None or self.ctx.read_only else self.make_edit_dialog(row)
        if dialog is not None:
            show_dialog(dialog)

    def label(self, row: dict[str, Any]) -> str:
        """How messages name a row."""
        return str(row.get("name", row.get("id")))

    def delete_question(self, row: dict[str, Any]) -> str:
        return f"Delete {self.noun.lower()} {self.label(row)}?"

    def delete_selected(self, row: dict[str, Any] | None = None) -> None:
        """Remove the selected row, once the admin has confirmed it."""
        row = row or self.table.selected_row()
        if row is None or not ask.confirm(self, self.delete_question(row)):
            return
        api, resource, label = self.ctx.api, self.resource, self.label(row)
        self.ctx.run(lambda: api.remove(resource, row["id"]),
                     lambda _none: self.changed(f"{self.noun} {label} deleted"))

    def toggle_enabled(self, row: dict[str, Any] | None = None) -> None:
        row = row or self.table.selected_row()
        if row is None:
            return
        enabled = not row.get("enabled", True)
        api, resource = self.ctx.api, self.resource
        self.ctx.run(lambda: api.update(resource, row["id"], {"enabled": enabled}),
                     lambda saved: self.changed(f"{self.noun} {self.label(saved)} "
                                                f"{'enabled' if enabled else 'disabled'}"))

    def changed(self, message: str) -> None:
        """After a change went through: say so, and show the table as it is now."""
        self.ctx.banner.show_message(message, "ok")
        self.refresh()

    def report(self, error: APIError) -> None:
        self.ctx.banner.show_error(error)
