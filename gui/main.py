"""Starting the window: `modelproxy desktop` (a local server, started if none answers)
and `modelproxy gui --url URL` (a server elsewhere)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QProgressDialog

from app import __version__
from app.settings import Settings
from gui import collector
from gui.api import AdminAPI, APIError
from gui.dialogs.connect import LoginDialog, SetupDialog, remember
from gui.display import ensure_display
from gui.pages.base import Context
from gui.server_process import LocalServer, answers, serves_https_only
from gui.session import Session, wait_for
from gui.tasks import Tasks
from gui.widgets import Banner
from gui.window import MainWindow

__all__ = ["application", "open_window", "run_desktop", "run_gui", "start_local_server",
           "wait_for"]


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ModelProxy")
    app.setOrganizationName("ModelProxy")
    app.setApplicationVersion(__version__)
    collector.install(app)
    return app


def open_window(api: AdminAPI, tasks: Tasks) -> MainWindow:
    window = MainWindow(Context(api, tasks, Banner()))
    window.show()
    return window


def run_gui(url: str | None = None, ca_file: str | None = None) -> int:
    """Connect to a server (the address and CA file are asked, remembered), then manage it."""
    if not ensure_display():
        return 1
    app = application()
    tasks = Tasks()
    # What the last login used (a CA file chosen in the dialog, say), for the next one.
    last = {"url": url, "ca_file": ca_file}

    def log_in(first: bool) -> AdminAPI | None:
        dialog = LoginDialog(tasks)
        if last["url"]:
            dialog.url.setText(last["url"])
        if last["ca_file"]:
            dialog.ca_file.edit.setText(last["ca_file"])
        # --ca-file, else the one remembered with the address
        setup = (remote_setup(tasks, url, dialog.ca_file.path or None, dialog)
                 if url and first else None)
        if setup is not None:
            api = setup.api if setup.exec() == QDialog.DialogCode.Accepted else None
        else:
            api = log_in_or_set_up(tasks, dialog)
        if api is not None:
            last.update(url=api.base_url, ca_file=api.ca_file)
            remember(api)
        return api

    return Session(app, tasks, log_in, lambda api: open_window(api, tasks)).run()


def remote_setup(tasks: Tasks, url: str, ca_file: str | None = None,
                 login: LoginDialog | None = None) -> SetupDialog | None:
    """The first-run setup dialog for a server elsewhere that has no admin yet (the code is
    typed: it is in that server's output); None when it has one or cannot say: then the
    `login` dialog, if given, already explains why (an untrusted certificate, no answer)."""
    api = AdminAPI(url, ca_file=ca_file)
    try:
        status = wait_for(tasks, api.setup_status)
    except APIError as error:
        if login is not None:
            login.fail(error)
        return None
    return SetupDialog(tasks, api, None, status=status) if status.get("needed") else None


def log_in_or_set_up(tasks: Tasks, login: LoginDialog, code_file: Path | None = None
                     ) -> AdminAPI | None:
    """The login dialog; when the server turned out to have no admin yet (a CA file chosen
    only in the dialog, say), the setup dialog next. The logged-in API, or None."""
    if login.exec() != QDialog.DialogCode.Accepted or login.api is None:
        return None
    if login.setup_status is None:
        return login.api
    setup = SetupDialog(tasks, login.api, code_file, status=login.setup_status)
    return setup.api if setup.exec() == QDialog.DialogCode.Accepted else None


def run_desktop(settings: Settings) -> int:
    """Manage the server on this machine, starting one (and stopping it after) if needed."""
    if not ensure_display():
        return 1
    app = application()
    tasks = Tasks()
    url = f"http://127.0.0.1:{settings.port}"
    if serves_https_only(url):  # starting another would only find the port taken
        QMessageBox.critical(None, "ModelProxy", https_server_message(settings.port))
        return 1
    server = None if answers(url) else start_local_server(tasks, settings)
    if server is False:
        return 1

    def log_in(first: bool) -> AdminAPI | None:
        api = AdminAPI(url)
        return api if _log_in(tasks, api, settings, setup_allowed=first) else None

    try:
        return Session(app, tasks, log_in, lambda api: open_window(api, tasks),
                       server=server or None).run()
    finally:
        if server:
            server.stop()


def https_server_message(port: int) -> str:
    return (f"The ModelProxy server on port {port} of this machine serves HTTPS only. Open "
            f"it with: modelproxy gui --url https://localhost:{port} --ca-file FILE "
            "(the CA that signed its certificate).")


def start_local_server(tasks: Tasks, settings: Settings) -> LocalServer | bool:
    """Start `modelproxy serve` and show progress until it answers; False if it failed."""
    server = LocalServer(settings.port, settings.data_dir)
    server.start()
    progress = QProgressDialog("Starting the ModelProxy server…", "Cancel", 0, 0)
    progress.setWindowTitle("ModelProxy")
    progress.setMinimumDuration(0)
    progress.show()
    try:
        wait_for(tasks, server.wait_healthy)
    except APIError as error:
        server.stop()
        QMessageBox.critical(None, "ModelProxy", f"The server did not start: {error.message}")
        return False
    finally:
        progress.close()
    return server


def _log_in(tasks: Tasks, api: AdminAPI, settings: Settings, setup_allowed: bool = True
            ) -> bool:
    if setup_allowed:
        try:
            status = wait_for(tasks, api.setup_status)
        except APIError as error:
            QMessageBox.critical(None, "ModelProxy", error.message)
            return False
        if status.get("needed"):
            setup = SetupDialog(tasks, api, settings.data_dir / "setup-code", status=status)
            return setup.exec() == QDialog.DialogCode.Accepted
    logged_in = log_in_or_set_up(tasks, LoginDialog(tasks, api.base_url),
                                 settings.data_dir / "setup-code")
    if logged_in is None:
        return False
    api.http.headers.update(logged_in.http.headers)
    api.user = logged_in.user
    return True
