"""Connecting: server URL (remembered), username and password; and first-run setup.

Calls run off the GUI thread; failures are explained in the dialog itself: the server
cannot be reached, the password is wrong, too many failed logins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.api import AdminAPI, APIError
from gui.dialogs.admin_access import AdminAccessBox
from gui.tasks import Tasks

SETTINGS_URL = "connect/url"
SETTINGS_USER = "connect/username"
SETTINGS_CA = "connect/ca_file"


def explain(error: APIError) -> str:
    """What a person should read for a failed login."""
    if error.code == "unreachable":
        return f"{error.message}. Is the server running, and is the address right?"
    if error.code == "untrusted_certificate":
        return f"{error.message[:1].upper()}{error.message[1:]}."
    if error.status == 401:
        return "Wrong username or password."
    if error.status == 429:
        return "Too many failed logins: this account or address is locked for a while."
    if error.status == 403:
        return f"Refused: {error.message}"
    return error.message


class _Form(QDialog):
    def __init__(self, tasks: Tasks, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.setWindowTitle(title)
        self.setMinimumWidth(420)
        self.form = QFormLayout()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #8a1c12;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def submit(self) -> None:
        raise NotImplementedError

    def busy(self, on: bool) -> None:
        self.buttons.setEnabled(not on)
        if on:
            self.message.setStyleSheet("color: palette(dark);")
            self.message.setText("Connecting…")

    def fail(self, error: APIError) -> None:
        self.busy(False)
        self.message.setStyleSheet("color: #8a1c12;")
        self.message.setText(explain(error))


class CAFileField(QWidget):
    """An optional CA file (PEM) to trust for an https:// server: typed or chosen."""

    def __init__(self, path: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(path)
        self.edit.setPlaceholderText("optional: the office CA's ca.pem, for https://")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.choose)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit)
        row.addWidget(browse)

    @property
    def path(self) -> str:
        return self.edit.text().strip()

    def choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "The CA certificate to trust",
                                              self.path, "Certificates (*.pem *.crt);;All (*)")
        if path:
            self.edit.setText(path)


class LoginDialog(_Form):
    """Log in to a server. With `url` given (desktop mode) the address is fixed."""

    def __init__(self, tasks: Tasks, url: str | None = None,
                 parent: QWidget | None = None, ca_file: str | None = None) -> None:
        super().__init__(tasks, "Connect to ModelProxy", parent)
        remembered = QSettings()
        self.url = QLineEdit(url or remembered.value(SETTINGS_URL, "http://127.0.0.1:8787"))
        self.url.setReadOnly(url is not None)
        self.ca_file = CAFileField(ca_file or ("" if url else remembered.value(SETTINGS_CA, "")))
        self.username = QLineEdit(remembered.value(SETTINGS_USER, ""))
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.form.addRow("Server", self.url)
        if url is None or ca_file:  # desktop mode's own server is plain loopback
            self.form.addRow("CA file", self.ca_file)
        self.form.addRow("Username", self.username)
        self.form.addRow("Password", self.password)
        (self.password if self.username.text() else self.username).setFocus()
        self.api: AdminAPI | None = None

    def submit(self) -> None:
        ca_file = self.ca_file.path or None
        if ca_file and not Path(ca_file).is_file():
            self.fail(APIError(0, f"There is no CA file at {ca_file}."))
            return
        api = AdminAPI(self.url.text().strip(), ca_file=ca_file)
        username, password = self.username.text().strip(), self.password.text()
        self.busy(True)
        self.tasks.run(lambda: api.login(username, password),
                       on_done=lambda _answer: self._done(api), on_error=self.fail)

    def _done(self, api: AdminAPI) -> None:
        settings = QSettings()
        settings.setValue(SETTINGS_URL, api.base_url)
        settings.setValue(SETTINGS_USER, api.user["username"] if api.user else "")
        if not self.url.isReadOnly():
            settings.setValue(SETTINGS_CA, api.ca_file or "")
        self.api = api
        self.accept()


class SetupDialog(_Form):
    """Create the first admin with the setup code (read from the data directory when the
    server is local)."""

    def __init__(self, tasks: Tasks, api: AdminAPI, code_file: Path | None = None,
                 parent: QWidget | None = None, status: dict[str, Any] | None = None) -> None:
        super().__init__(tasks, "Set up ModelProxy", parent)
        self.api = api
        intro = QLabel("No admin exists yet. Create the first one. The setup code is printed "
                       "by the server at start and kept in its data directory (setup-code).")
        intro.setWordWrap(True)
        self.form.addRow(intro)
        code = code_file.read_text().strip() if code_file and code_file.is_file() else ""
        self.code = QLineEdit(code)
        self.username = QLineEdit("admin")
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.repeat = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.form.addRow("Setup code", self.code)
        self.form.addRow("Username", self.username)
        self.form.addRow("Password", self.password)
        self.form.addRow("Repeat password", self.repeat)
        self.access = AdminAccessBox()  # GET /admin/api/setup's status, asked if not given
        self.form.addRow(self.access)
        if status is not None:
            self.access.show_status(status)
        else:
            tasks.run(api.setup_status, self.access.show_status,
                      lambda error: self.access.unavailable(error.message))
        self.password.setFocus()

    def submit(self) -> None:
        if self.password.text() != self.repeat.text():
            self.fail(APIError(400, "The passwords differ."))
            return
        try:
            admin_allow = self.access.admin_allow()
        except ValueError as exc:
            self.fail(APIError(400, str(exc)))
            return
        username, password, code = (self.username.text().strip(), self.password.text(),
                                    self.code.text().strip())
        api = self.api
        self.busy(True)
        self.tasks.run(lambda: (api.setup(username, password, code, admin_allow),
                                api.login(username, password)),
                       on_done=lambda _answer: self.accept(), on_error=self.fail)
