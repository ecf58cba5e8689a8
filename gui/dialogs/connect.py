"""Connecting: server URL (remembered), username and password; and first-run setup.

Calls run off the GUI thread; failures are explained in the dialog itself: the server
cannot be reached, its certificate is not trusted, the password is wrong, too many failed
logins. A login refused because the server has no admin yet hands over to the setup.
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
CA_CODES = ("untrusted_certificate", "bad_ca_file")  # the CA file fixes it
TLS_CODES = (*CA_CODES, "tls_failed", "plain_http_server")


def explain(error: APIError) -> str:
    """What a person should read for a failed login."""
    if error.code == "unreachable":
        return f"{error.message}. Is the server running, and is the address right?"
    if error.code in TLS_CODES:
        text = f"{error.message[:1].upper()}{error.message[1:]}"
        return text if text.endswith(".") else f"{text}."
    if error.status == 401:
        return "Wrong username or password."
    if error.status == 429:
        return "Too many failed logins: this account or address is locked for a while."
    if error.code == "ip_not_allowed":
        return (f"Refused: {error.message}. From a machine it is open to, add this one under "
                "Settings (admin_allow); or set MODELPROXY_ADMIN_ALLOW on the server.")
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
        self.fit()

    def fit(self) -> None:
        """Grow (never shrink) to the height the fields and a message of several lines
        need: an open dialog keeps its size, and would squeeze the fields instead."""
        layout = self.layout()
        layout.activate()
        needed = max(layout.totalHeightForWidth(self.width()), layout.totalSizeHint().height())
        if needed > self.height():
            self.resize(self.width(), needed)


class CAFileField(QWidget):
    """An optional CA file (PEM) to trust for an https:// server: typed or chosen."""

    def __init__(self, path: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(path)
        self.edit.setPlaceholderText("optional: ca.pem, for https://")
        self.edit.setToolTip("The CA certificate (PEM) that signed the server's certificate: "
                             "ca.pem, from `modelproxy tls self-signed` or the office CA.")
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
                                              self.path or str(Path.home()),
                                              "Certificates (*.pem *.crt);;All (*)")
        if path:
            self.edit.setText(path)

    def problem(self) -> str | None:
        """What is wrong with the file, said before connecting; None: try it."""
        path = self.path
        if not path:
            return None
        if not Path(path).is_file():
            return f"There is no CA file at {path}."
        try:
            head = Path(path).read_bytes()[:65536]
        except OSError as exc:
            return f"Cannot read the CA file {path}: {exc.strerror}."
        if b"PRIVATE KEY-----" in head:
            return (f"{path} is a private key: choose the CA's certificate (ca.pem) instead, "
                    "and keep the key private.")
        return None


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
        self.ca_file.edit.textChanged.connect(self.message.clear)  # said of the old file
        (self.password if self.username.text() else self.username).setFocus()
        self.api: AdminAPI | None = None
        self.setup_status: dict[str, Any] | None = None  # set: no admin yet, set up instead

    def submit(self) -> None:
        problem = self.ca_file.problem()
        if problem:
            self.fail(APIError(0, problem, "bad_ca_file"))
            return
        api = AdminAPI(self.url.text().strip(), ca_file=self.ca_file.path or None)
        username, password = self.username.text().strip(), self.password.text()
        self.busy(True)
        self.tasks.run(lambda: log_in_or_setup(api, username, password),
                       on_done=lambda status: self._done(api, status), on_error=self.fail)

    def fail(self, error: APIError) -> None:
        super().fail(error)
        if error.code in CA_CODES and self.ca_file.isVisibleTo(self):
            self.ca_file.edit.setFocus()

    def _done(self, api: AdminAPI, setup_status: dict[str, Any] | None) -> None:
        if self.url.isReadOnly():  # desktop mode: its own server, no CA
            QSettings().setValue(SETTINGS_URL, api.base_url)
        else:
            remember(api)
        if setup_status is None:
            QSettings().setValue(SETTINGS_USER, api.user["username"] if api.user else "")
        self.api, self.setup_status = api, setup_status
        self.accept()


def remember(api: AdminAPI) -> None:
    """The server and CA file the next connect dialog offers."""
    settings = QSettings()
    settings.setValue(SETTINGS_URL, api.base_url)
    settings.setValue(SETTINGS_CA, api.ca_file or "")


def log_in_or_setup(api: AdminAPI, username: str, password: str) -> dict[str, Any] | None:
    """Log in; None. A server with no admin yet refuses every login: then its setup status
    (GET /admin/api/setup), for the setup dialog."""
    try:
        api.login(username, password)
    except APIError as error:
        if error.status != 401:
            raise
        status = api.setup_status()
        if status.get("needed"):
            return status
        raise
    return None


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
        (self.password if code else self.code).setFocus()  # typed when the server is elsewhere

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
                       on_done=lambda _answer: self._done(username), on_error=self.fail)

    def _done(self, username: str) -> None:
        QSettings().setValue(SETTINGS_USER, username)  # the next login's
        self.accept()
