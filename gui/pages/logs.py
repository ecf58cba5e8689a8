"""Logs: the request log, newest first, with filters, infinite scroll over keyset pages,
a detail pane, a live tail and CSV export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gui.api import AdminAPI, APIError
from gui.models.logs import LogsModel
from gui.pages.base import Context, Page
from gui.pages.log_detail import detail_html
from gui.widgets import Table, TimeRange

SPANS = (("Any time", None), ("Last hour", 3600), ("Last 24 hours", 86_400),
         ("Last 7 days", 7 * 86_400), ("Last 30 days", 30 * 86_400), ("Custom…", "custom"))
STATUSES = (("Any status", None), ("2xx", "2xx"), ("4xx", "4xx"), ("5xx", "5xx"),
            ("Errors (4xx and 5xx)", "error"))
DIALECTS = (("Any dialect", None), ("Chat completions", "chat"), ("Responses", "responses"),
            ("Anthropic Messages", "messages"))
TAIL_LIMIT = 200  # rows per tail request
TAIL_MOST = 1000  # more new rows than this in one poll: reload instead


def utc_iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def fetch_newer(api: AdminAPI, filters: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Rows matching `filters` (`after_id`: the newest row shown); False if too many."""
    rows, cursor = api.logs_page(TAIL_LIMIT, None, **filters)
    while cursor and len(rows) < TAIL_MOST:
        more, cursor = api.logs_page(TAIL_LIMIT, cursor, **filters)
        rows += more
    return rows, cursor is None


def write_csv(path: str, chunks: Iterable[bytes]) -> str:
    """Stream the server's CSV into a file (in a worker thread); returns the path."""
    try:
        with open(path, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
    except OSError as exc:
        raise APIError(0, f"could not write {path}: {exc.strerror}") from None
    return path


class LogsPage(Page):
    title = "Logs"
    exported = Signal(str)  # the path, once a CSV export is written

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.page_size = 100
        self.tail_interval_ms = 2000
        self.next_cursor: str | None = None
        self.loading = False  # a page is on its way
        self._filters: dict[str, Any] = {}
        self._generation = 0  # bumped by every reload; stale answers are dropped
        self._polling = False
        self.provider_names: dict[int, str] = {}
        self.model = LogsModel(self)
        self._build_table()
        self._build_filters()
        self._build_layout()

    # --- building -----------------------------------------------------------------------

    def _build_table(self) -> None:
        self.table = Table(self.model)
        # Newest first, as the keyset pages come; a click on a header sorts what is loaded.
        self.table.setSortingEnabled(False)
        self.table.proxy.sort(-1)
        header = self.table.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.sectionClicked.connect(self._sort_by)
        self.detail = QTextBrowser()
        self.detail.setHtml(detail_html(None))
        self.table.selectionModel().selectionChanged.connect(self._show_detail)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        bar = self.table.verticalScrollBar()
        bar.valueChanged.connect(self._check_more)
        bar.rangeChanged.connect(self._check_more)
        self.tail_timer = QTimer(self, timeout=self._poll)
        self._debounce = QTimer(self, singleShot=True, interval=400, timeout=self.reload)

    def _build_filters(self) -> None:
        self.span = _combo(SPANS)
        self.custom = TimeRange(days_back=1)
        self.custom.setVisible(False)
        self.custom.changed.connect(self.reload)
        self.token = _combo([("Any token", None)])
        self.endpoint = _combo([("Any endpoint", None)])
        self.status = _combo(STATUSES)
        self.dialect = _combo(DIALECTS)
        self.dialect.setToolTip("The dialect the client spoke")
        self.session = QLineEdit(placeholderText="Agent session")
        self.session.setToolTip("The whole id (the server matches it exactly); right-click a "
                                "row for its session's requests")
        self.request_id = QLineEdit(placeholderText="Request ID")
        self.search = QLineEdit(placeholderText="Text in the error…  (Ctrl+F)")
        self.span.currentIndexChanged.connect(self._span_changed)
        for combo in (self.token, self.endpoint, self.status, self.dialect):
            combo.currentIndexChanged.connect(self.reload)
        for edit in (self.session, self.request_id, self.search):
            edit.setClearButtonEnabled(True)
            edit.textChanged.connect(lambda _text: self._debounce.start())
            edit.returnPressed.connect(self.reload)
        self.tail = QCheckBox("Live tail")
        self.tail.setToolTip("Add new requests as they arrive")
        self.tail.toggled.connect(self.set_live_tail)

    def _build_layout(self) -> None:
        header = QHBoxLayout()
        header.addWidget(QLabel(f"<h2>{self.title}</h2>"))
        header.addStretch(1)
        header.addWidget(self.tail)
        header.addWidget(_button("Export CSV…", self._ask_export))
        header.addWidget(_button("Refresh", self.refresh))
        filters = QHBoxLayout()
        for widget in (self.span, self.custom, self.token, self.endpoint, self.status,
                       self.dialect):
            filters.addWidget(widget)
        filters.addWidget(self.session, 1)
        filters.addWidget(self.request_id, 1)
        filters.addWidget(self.search, 2)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([780, 300])
        self.summary = QLabel()
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.summary)

    # --- filters --------------------------------------------------------------------------

    def filters(self) -> dict[str, Any]:
        """The /logs filters the controls ask for (empty ones left out)."""
        chosen = {"token_id": self.token.currentData(),
                  "endpoint_id": self.endpoint.currentData(),
                  "status": self.status.currentData(),
                  "client_dialect": self.dialect.currentData(),
                  "agent_session": self.session.text().strip(),
                  "request_id": self.request_id.text().strip(),
                  "q": self.search.text().strip()}
        span = self.span.currentData()
        if span == "custom":
            chosen.update(self.custom.params())
        elif span:
            chosen["from"] = utc_iso(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=span))
        return {k: v for k, v in chosen.items() if v not in (None, "")}

    def _span_changed(self) -> None:
        self.custom.setVisible(self.span.currentData() == "custom")
        self.reload()

    def _load_choices(self) -> None:
        api = self.ctx.api

        def fetch() -> tuple[list[dict[str, Any]], ...]:
            return api.items("tokens"), api.items("endpoints"), api.items("providers")

        self.ctx.run(fetch, self._show_choices)

    def _show_choices(self, answer: tuple[list[dict[str, Any]], ...]) -> None:
        tokens, endpoints, providers = answer
        self.provider_names = {p["id"]: p["name"] for p in providers}  # for the attempts
        _refill(self.token, "Any token", [(t["name"], t["id"]) for t in tokens])
        _refill(self.endpoint, "Any endpoint", [(e["name"], e["id"]) for e in endpoints])

    def _sort_by(self, column: int) -> None:
        header = self.table.horizontalHeader()
        ascending = not (header.sortIndicatorSection() == column
                         and header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder)
        order = Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder
        header.setSortIndicator(column, order)
        self.table.proxy.sort(column, order)

    # --- loading --------------------------------------------------------------------------

    def refresh(self) -> None:
        self._load_choices()
        self.reload()

    def reload(self) -> None:
        """The first page for the current filters (the table starts over)."""
        self._debounce.stop()
        self._generation += 1
        generation, filters, limit = self._generation, self.filters(), self.page_size
        self._filters = filters
        self.loading = True
        api = self.ctx.api
        self.ctx.run(lambda: (generation, api.logs_page(limit, None, **filters)),
                     self._show_first, lambda error: self._failed(error, generation))

    def load_more(self) -> None:
        """The next keyset page (after the oldest row shown)."""
        if self.loading or not self.next_cursor:
            return
        self.loading = True
        generation, filters, limit = self._generation, self._filters, self.page_size
        cursor, api = self.next_cursor, self.ctx.api
        self.ctx.run(lambda: (generation, api.logs_page(limit, cursor, **filters)),
                     self._show_more, lambda error: self._failed(error, generation))

    def _show_first(self, answer: tuple[int, tuple[list[dict[str, Any]], str | None]]) -> None:
        generation, (rows, cursor) = answer
        if generation != self._generation:
            return
        self.loading = False
        self.next_cursor = cursor
        self.model.set_rows(rows)
        self.detail.setHtml(detail_html(None))
        self._summarize()
        self.loaded.emit()
        QTimer.singleShot(0, self._check_more)

    def _show_more(self, answer: tuple[int, tuple[list[dict[str, Any]], str | None]]) -> None:
        generation, (rows, cursor) = answer
        if generation != self._generation:
            return
        self.loading = False
        self.next_cursor = cursor
        self.model.add_older(rows)
        self._summarize()
        QTimer.singleShot(0, self._check_more)

    def _failed(self, error: APIError, generation: int) -> None:
        if generation == self._generation:  # a newer reload is still on its way otherwise
            self.loading = False
        self.ctx.banner.show_error(error)

    def _check_more(self, *_: Any) -> None:
        """Near the bottom (or the rows do not fill the table yet): fetch the next page."""
        if self.next_cursor and not self.loading and self.table.isVisible() and self._near_end():
            self.load_more()

    def _near_end(self) -> bool:
        bar = self.table.verticalScrollBar()
        if bar.maximum() > 0:
            return bar.value() >= bar.maximum() - max(bar.pageStep() // 4, 1)
        # the scroll bar's range follows the rows a moment later; the header knows now
        return self.table.verticalHeader().length() <= self.table.viewport().height()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._check_more)

    def _summarize(self) -> None:
        more = "scroll for more" if self.next_cursor else "all loaded"
        self.summary.setText(f"{self.model.rowCount():,} requests shown · {more}")

    # --- live tail ------------------------------------------------------------------------

    def set_live_tail(self, on: bool) -> None:
        """Poll for new requests every `tail_interval_ms` while on."""
        if self.tail.isChecked() != on:
            self.tail.setChecked(on)  # comes back here through `toggled`
            return
        if on:
            self.tail_timer.start(self.tail_interval_ms)
        else:
            self.tail_timer.stop()

    def _poll(self) -> None:
        if self._polling or self.loading:
            return
        # By id, not time: a long request is logged when it ends, with its start time,
        # so it can arrive behind rows already shown.
        filters = dict(self._filters)
        newest = self.model.newest_id()
        if newest is not None:
            filters["after_id"] = newest
        self._polling = True
        generation, api = self._generation, self.ctx.api
        self.ctx.run(lambda: (generation, fetch_newer(api, filters)), self._show_newer,
                     self._poll_failed)

    def _show_newer(self, answer: tuple[int, tuple[list[dict[str, Any]], bool]]) -> None:
        self._polling = False
        generation, (rows, complete) = answer
        if generation != self._generation:
            return
        if not complete:  # a flood: start over rather than leave a gap
            self.reload()
            return
        if self.model.add_newer(rows):
            self._summarize()

    def _poll_failed(self, error: APIError) -> None:
        self._polling = False
        self.ctx.banner.show_error(error)

    # --- detail, search, export -----------------------------------------------------------

    def _show_detail(self, *_: Any) -> None:
        self.detail.setHtml(detail_html(self.table.selected_row(), self.provider_names))

    def selected_row(self) -> dict[str, Any] | None:
        return self.table.selected_row()

    def row_menu(self, row: dict[str, Any]) -> QMenu:
        """A row's context menu: its agent session's requests (a whole id nobody types)."""
        menu = QMenu(self)
        session = row.get("agent_session")
        label = f"Only session {session}" if session else "Only this session (it has none)"
        action = menu.addAction(label, lambda: self.only_session(session or ""))
        action.setEnabled(bool(session))
        return menu

    def only_session(self, session: str) -> None:
        self.session.setText(session)
        self.reload()

    def _context_menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        row = self.table.selected_row()
        if row is not None:
            self.row_menu(row).exec(self.table.viewport().mapToGlobal(position))

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _ask_export(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(self, "Export request logs",
                                                    "request-logs.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """Write the rows matching the current filters (all pages) to `path`, off the GUI
        thread; `exported` is emitted when done."""
        filters, api = dict(self._filters), self.ctx.api
        self.ctx.run(lambda: write_csv(path, api.logs_csv(**filters)), self._exported)

    def _exported(self, path: str) -> None:
        self.ctx.banner.show_message(f"Exported request logs to {path}", "ok")
        self.exported.emit(path)


def _combo(options: Any) -> QComboBox:
    combo = QComboBox()
    for label, data in options:
        combo.addItem(label, data)
    return combo


def _refill(combo: QComboBox, everything: str, options: list[tuple[str, Any]]) -> None:
    """New choices, keeping the chosen one, without counting as a filter change."""
    chosen = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(everything, None)
    for label, data in options:
        combo.addItem(label, data)
    combo.setCurrentIndex(max(combo.findData(chosen), 0))
    combo.blockSignals(False)
    if combo.currentData() != chosen:
        combo.currentIndexChanged.emit(combo.currentIndex())


def _button(text: str, slot: Any) -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(slot)
    return button
