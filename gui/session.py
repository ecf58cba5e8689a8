"""The window's life: log in, manage, log out (and log in again), close.

In desktop mode the window may have started the server this machine's clients use
(`LocalServer`), and closing the window stops it. So when clients used it in the last
minutes, closing asks first, and can keep serving in the background with a tray icon
(Open, Quit). "Log out" only logs out: the login dialog comes back, the server runs on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QStyle, QSystemTrayIcon, QWidget

from gui.api import AdminAPI, APIError
from gui.server_process import LocalServer
from gui.tasks import Tasks

RECENT_MINUTES = 15  # "clients used the server lately": a request logged this recently
RECENT_LIMIT = 100  # enough rows to say "100 or more"

STOP, BACKGROUND, CANCEL = "stop", "background", "cancel"


def wait_for(tasks: Tasks, fn: Callable[[], Any]) -> Any:
    """Run `fn` off the GUI thread while the GUI keeps painting; its result or APIError."""
    loop = QEventLoop()
    outcome: dict[str, Any] = {}
    tasks.run(fn, on_done=lambda r: (outcome.update(result=r), loop.quit()),
              on_error=lambda e: (outcome.update(error=e), loop.quit()))
    loop.exec()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def recent_client_requests(api: AdminAPI, minutes: int = RECENT_MINUTES) -> int:
    """How many client requests the server logged in the last `minutes` (at most
    RECENT_LIMIT: the question only needs "some" and a rough size)."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
    rows, _cursor = api.logs_page(limit=RECENT_LIMIT,
                                  **{"from": since.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return len(rows)


def close_question(parent: QWidget | None, recent: int, tray: bool) -> QMessageBox:
    """"Clients used this server in the last 15 minutes": stop it, keep it, or cancel."""
    count = f"{recent} or more" if recent >= RECENT_LIMIT else str(recent)
    box = QMessageBox(QMessageBox.Icon.Warning, "ModelProxy",
                      f"Clients used this server in the last {RECENT_MINUTES} minutes "
                      f"({count} requests).", parent=parent)
    box.setInformativeText(
        "Closing the window stops the server, and their requests will fail."
        + (" It can keep serving in the background instead, with an icon in the tray."
           if tray else ""))
    box.addButton("&Stop the server", QMessageBox.ButtonRole.DestructiveRole
                  ).setObjectName(STOP)
    if tray:
        keep = box.addButton("&Keep serving in the background",
                             QMessageBox.ButtonRole.AcceptRole)
        keep.setObjectName(BACKGROUND)
        box.setDefaultButton(keep)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    cancel.setObjectName(CANCEL)
    if not tray:
        box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    return box


def ask_on_close(parent: QWidget | None, recent: int, tray: bool) -> str:
    """STOP, BACKGROUND (only offered with a tray) or CANCEL."""
    box = close_question(parent, recent, tray)
    box.exec()
    clicked = box.clickedButton()
    return clicked.objectName() if clicked is not None else CANCEL


class Session(QObject):
    """Runs the window until the person is done; `log_in` shows the login (or first-run
    setup) dialog and gives a logged-in AdminAPI, or None when cancelled."""

    def __init__(self, app: QApplication, tasks: Tasks,
                 log_in: Callable[[bool], AdminAPI | None],
                 open_window: Callable[[AdminAPI], Any],
                 server: LocalServer | None = None,
                 tray_available: bool | None = None) -> None:
        super().__init__()
        self.app = app
        self.tasks = tasks
        self.log_in = log_in
        self.open_window = open_window
        self.server = server  # the server this window started, if it did
        self.tray_available = (QSystemTrayIcon.isSystemTrayAvailable()
                               if tray_available is None else tray_available)
        self.window: Any = None
        self.tray: QSystemTrayIcon | None = None
        self.recent_at_logout = 0

    def run(self) -> int:
        """Log in, then the window until it is closed (or Quit from the tray)."""
        api = self.log_in(True)
        if api is None:
            return 1
        quit_on_close = self.app.quitOnLastWindowClosed()
        self.app.setQuitOnLastWindowClosed(False)  # hidden in the tray is not closed
        self._show_window(api)
        try:
            return self.app.exec()
        finally:
            self.app.setQuitOnLastWindowClosed(quit_on_close)
            self._log_out_quietly()
            if self.tray is not None:
                self.tray.hide()

    # --- the window -------------------------------------------------------------------

    def _show_window(self, api: AdminAPI) -> None:
        window = self.window = self.open_window(api)
        window.before_close = self._window_closing
        window.logout_requested.connect(self.log_out)

    def _window_closing(self) -> bool:
        """The window is being closed: True lets it close (and the application end)."""
        choice = STOP
        if self.server is not None:
            recent = self._recent_requests()
            if recent:
                choice = ask_on_close(self.window, recent, self.tray_available)
        if choice == BACKGROUND:
            QTimer.singleShot(0, self.to_background)
            return False
        if choice == CANCEL:
            return False
        QTimer.singleShot(0, self.app.quit)
        return True

    def _recent_requests(self) -> int:
        if self.window is None:
            return 0
        try:
            return wait_for(self.tasks, lambda api=self.window.ctx.api:
                            recent_client_requests(api))
        except APIError:
            return 0  # no answer: the server is not serving anyone either

    def log_out(self) -> None:
        """End the session and show the login dialog again; the server keeps running."""
        self.recent_at_logout = self._recent_requests()
        window, self.window = self.window, None
        if window is not None:
            window.before_close = None
            self.tasks.wait(5000)
            with contextlib.suppress(APIError):  # unreachable: it expires on its own
                window.ctx.api.logout()
            window.close()
            window.deleteLater()
        QTimer.singleShot(0, self.log_in_again)

    def log_in_again(self) -> None:
        api = self.log_in(False)
        if api is not None:
            self._show_window(api)
            return
        # The login was cancelled: that closes the window for good, so the same question.
        choice = STOP
        if self.server is not None and self.recent_at_logout:
            choice = ask_on_close(None, self.recent_at_logout, self.tray_available)
        if choice == BACKGROUND:
            self.to_background()
        elif choice == CANCEL:
            QTimer.singleShot(0, self.log_in_again)
        else:
            self.app.quit()

    def _log_out_quietly(self) -> None:
        if self.window is not None and self.window.ctx.api.user:
            with contextlib.suppress(APIError):
                self.window.ctx.api.logout()

    # --- the tray ---------------------------------------------------------------------

    def to_background(self) -> None:
        """Hide the window; a tray icon opens it again or quits (stopping the server)."""
        if self.window is not None:
            self.window.hide()
        if self.tray is None:
            self.tray = self._make_tray()
        self.tray.show()
        self.tray.showMessage("ModelProxy", "The server keeps serving in the background.",
                              QSystemTrayIcon.MessageIcon.Information, 5000)

    def _make_tray(self) -> QSystemTrayIcon:
        url = self.server.url if self.server is not None else ""
        tray = QSystemTrayIcon(
            self.app.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon), self)
        tray.setToolTip(f"ModelProxy serving at {url}")
        menu = QMenu()
        menu.addAction("Open", self.reopen)
        menu.addAction("Quit", self.quit)
        tray.setContextMenu(menu)
        tray.activated.connect(lambda reason: self.reopen() if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick) else None)
        self._menu = menu  # the tray does not own its menu
        return tray

    def reopen(self) -> None:
        if self.tray is not None:
            self.tray.hide()
        if self.window is None:
            self.log_in_again()
            return
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()

    def quit(self) -> None:
        """Tray → Quit: the person asked to stop, so no second question."""
        if self.tray is not None:
            self.tray.hide()
        if self.window is not None:
            self.window.before_close = None
            self.window.close()
        self.app.quit()
