"""The main window: a sidebar of pages, the error banner, a status bar, shortcuts."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from gui.pages import build_pages
from gui.pages.base import Context, Page


class MainWindow(QMainWindow):
    """`logout_requested` when "Log out" is clicked (gui.session decides what follows);
    `before_close`, when set, is asked whether a close may go ahead."""

    logout_requested = Signal()

    def __init__(self, ctx: Context, pages: list[Page] | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.before_close: Callable[[], bool] | None = None
        self.setWindowTitle(f"ModelProxy — {ctx.api.base_url}")
        self.resize(1280, 800)
        self.pages = pages if pages is not None else build_pages(ctx)
        self._loaded: set[int] = set()
        self.sidebar = QListWidget()
        self.sidebar.setFixedWidth(170)
        self.sidebar.setStyleSheet("QListWidget { font-size: 11pt; }"
                                   "QListWidget::item { padding: 7px 10px; }")
        self.stack = QStackedWidget()
        for page in self.pages:
            self.sidebar.addItem(page.title)
            self.stack.addWidget(page)
        self.sidebar.currentRowChanged.connect(self.show_page)
        ctx.banner.attach(self.stack)  # over the page, never pushing it down
        body = QHBoxLayout()
        body.addWidget(self.sidebar)
        body.addWidget(self.stack, 1)
        central = QWidget()
        central.setLayout(body)
        self.setCentralWidget(central)
        self._status_bar()
        self._shortcuts()
        self.sidebar.setCurrentRow(0)

    def page(self, title: str) -> Page:
        return next(p for p in self.pages if p.title == title)

    def show_page(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        page = self.pages[row]
        if row not in self._loaded or page.refresh_on_return:
            self._loaded.add(row)  # later visits keep what is there, unless the page
            page.refresh()         # shows what traffic changes

    def current_page(self) -> Page:
        return self.pages[self.stack.currentIndex()]

    def _status_bar(self) -> None:
        user = self.ctx.api.user or {}
        who = QLabel(f"{user.get('username', '?')} ({user.get('role', '?')}) at "
                     f"{self.ctx.api.base_url}")
        self.busy = QProgressBar(maximumWidth=120, maximum=0)  # maximum 0: indeterminate
        self.busy.hide()
        self._busy_timer = QTimer(self, singleShot=True, interval=300,
                                  timeout=lambda: self.busy.setVisible(self.ctx.tasks.busy > 0))
        self.ctx.tasks.busy_changed.connect(self._on_busy)
        logout = QPushButton("Log out")
        logout.setFlat(True)
        logout.clicked.connect(self.logout_requested)
        self.logout_button = logout
        self.statusBar().addWidget(who, 1)
        self.statusBar().addPermanentWidget(self.busy)
        self.statusBar().addPermanentWidget(logout)

    def _on_busy(self, count: int) -> None:
        if count > 0:
            self._busy_timer.start()  # only slow calls show progress
        else:
            self._busy_timer.stop()
            self.busy.hide()

    def _shortcuts(self) -> None:
        bindings = [(QKeySequence.StandardKey.Refresh, lambda: self.current_page().refresh()),
                    ("Ctrl+R", lambda: self.current_page().refresh()),
                    (QKeySequence.StandardKey.New, lambda: self.current_page().new_item()),
                    (QKeySequence.StandardKey.Find, lambda: self.current_page().focus_search()),
                    ("Ctrl+Q", self.close)]
        for i in range(min(9, len(self.pages))):
            bindings.append((f"Ctrl+{i + 1}", lambda row=i: self.sidebar.setCurrentRow(row)))
        for keys, slot in bindings:
            QShortcut(QKeySequence(keys), self, activated=slot,
                      context=Qt.ShortcutContext.WindowShortcut)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.before_close is not None and not self.before_close():
            event.ignore()
            return
        self.ctx.tasks.wait(5000)
        super().closeEvent(event)
