"""`modelproxy gui --url https://…` as an admin walks it, against a real TLS server with no
admin yet: what the connect dialog says of a missing or wrong CA file, the first-run setup
reached from it, and the next login keeping what was chosen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QCheckBox, QDialog, QLineEdit, QPushButton

from gui.api import AdminAPI, APIError
from gui.dialogs.connect import SETTINGS_CA, SETTINGS_URL, LoginDialog, SetupDialog, explain
from gui.main import remote_setup
from gui.tasks import Tasks
from tests.live import LiveServer, free_port
from tests.tlsfiles import TLSFiles, make_tls_files


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def new_server(tmp_path: Path, files: TLSFiles) -> Iterator[LiveServer]:
    """An https:// server with no admin yet."""
    with LiveServer(tmp_path / "data", env=files.env, ca_file=files.office.ca_cert) as live:
        yield live


@pytest.fixture(autouse=True)
def no_remembered_ca() -> Iterator[None]:
    yield
    QSettings().remove(SETTINGS_CA)


def login_dialog(qtbot, url: str, ca_file: Path | str = "") -> LoginDialog:
    dialog = LoginDialog(Tasks())
    qtbot.addWidget(dialog)
    dialog.url.setText(url)
    dialog.ca_file.edit.setText(str(ca_file))
    return dialog


def test_without_the_ca_the_setup_is_not_offered_and_the_dialog_says_why(
        qtbot, new_server: LiveServer) -> None:
    login = login_dialog(qtbot, new_server.url)
    assert remote_setup(Tasks(), new_server.url, None, login) is None
    assert login.message.text().startswith(f"The certificate of {new_server.url} is not "
                                           "trusted")
    assert "choose the CA file that signed it" in login.message.text()
    assert login.focusWidget() is login.ca_file.edit  # where the fix goes
    assert login.buttons.isEnabled()


def test_with_the_ca_file_the_setup_is_offered(qtbot, new_server: LiveServer,
                                               files: TLSFiles) -> None:
    setup = remote_setup(Tasks(), new_server.url, str(files.office.ca_cert))
    assert isinstance(setup, SetupDialog)
    qtbot.addWidget(setup)
    assert setup.api.ca_file == str(files.office.ca_cert)
    assert setup.access.only.isChecked()
    assert setup.access.addresses.text() == "127.0.0.1, ::1"
    assert setup.focusWidget() is setup.code  # not on this machine: typed first


def test_a_login_on_a_server_with_no_admin_hands_over_to_the_setup(
        qtbot, new_server: LiveServer, files: TLSFiles) -> None:
    """The CA chosen only in the dialog: the login cannot succeed (no admin), so the
    dialog says the server needs setting up instead of "Wrong username or password"."""
    dialog = login_dialog(qtbot, new_server.url, files.office.ca_cert)
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
    assert dialog.setup_status is not None and dialog.setup_status["needed"]
    assert dialog.setup_status["address"] == "127.0.0.1"
    assert dialog.api.ca_file == str(files.office.ca_cert) and dialog.api.user is None
    assert QSettings().value(SETTINGS_CA) == str(files.office.ca_cert)


def test_a_private_key_as_the_ca_is_said_before_connecting(qtbot, files: TLSFiles) -> None:
    dialog = login_dialog(qtbot, f"https://127.0.0.1:{free_port()}", files.office.ca_key)
    dialog.submit()
    assert dialog.message.text() == (f"{files.office.ca_key} is a private key: choose the "
                                     "CA's certificate (ca.pem) instead, and keep the key "
                                     "private.")
    assert dialog.buttons.isEnabled()


def test_a_file_with_no_certificate_is_explained(qtbot, new_server: LiveServer,
                                                 tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("the CA is on the admin's USB stick\n")
    dialog = login_dialog(qtbot, new_server.url, notes)
    dialog.submit()
    qtbot.waitUntil(lambda: "holds no certificate" in dialog.message.text(), timeout=10_000)
    assert dialog.message.text() == (f"{notes} holds no certificate: choose the CA's "
                                     "certificate (ca.pem, a PEM file).")
    assert "HTTPSConnectionPool" not in dialog.message.text()


def test_https_to_a_plain_http_server_says_so(qtbot, gui_server: LiveServer) -> None:
    """The server answers a TLS hello on its plain port at once, in plain HTTP."""
    url = gui_server.url.replace("http://", "https://")
    with pytest.raises(APIError) as refused:
        AdminAPI(url, timeout=15).health()
    assert refused.value.code == "plain_http_server"
    login = login_dialog(qtbot, url)
    login.username.setFocus()
    assert remote_setup(Tasks(), url, None, login) is None
    assert login.message.text() == (f"The server at {url} speaks plain HTTP, not HTTPS: "
                                    "change https:// to http:// in its address.")
    assert login.focusWidget() is login.username  # no CA file helps here


def test_messages_end_with_one_full_stop() -> None:
    assert explain(APIError(0, "There is no CA file at /x.", "bad_ca_file")) == (
        "There is no CA file at /x.")
    assert explain(APIError(0, "the TLS connection to https://h failed", "tls_failed")) == (
        "The TLS connection to https://h failed.")


def test_a_new_message_clears_when_the_ca_file_changes(qtbot, files: TLSFiles) -> None:
    dialog = login_dialog(qtbot, "https://127.0.0.1:1", files.office.ca_key)
    dialog.submit()
    assert "private key" in dialog.message.text()
    dialog.ca_file.edit.setText(str(files.office.ca_cert))
    assert dialog.message.text() == ""


def test_a_long_message_grows_the_dialog_instead_of_squeezing_the_fields(qtbot) -> None:
    dialog = login_dialog(qtbot, "https://127.0.0.1:1")
    dialog.show()
    qtbot.waitExposed(dialog)
    before = dialog.height()
    dialog.fail(APIError(0, "the certificate of https://127.0.0.1:1 is not trusted (unable "
                            "to get local issuer certificate): choose the CA file that "
                            "signed it (ca.pem, from the server's admin)",
                         "untrusted_certificate"))
    assert dialog.height() > before
    for field in (dialog.url, dialog.username, dialog.password):
        assert field.height() >= field.sizeHint().height()


def test_the_tab_order_runs_down_the_form(qtbot) -> None:
    dialog = login_dialog(qtbot, "https://127.0.0.1:1")
    choose = dialog.ca_file.findChild(QPushButton)
    chain, widget = [], dialog.url
    while len(chain) < 5:
        if isinstance(widget, (QLineEdit, QPushButton)):
            chain.append(widget)
        widget = widget.nextInFocusChain()
    assert chain == [dialog.url, dialog.ca_file.edit, choose, dialog.username,
                     dialog.password]


def test_the_window_walk_over_https(qtbot, new_server: LiveServer, files: TLSFiles,
                                    tmp_path: Path) -> None:
    """run_gui with a wrong --ca-file: the login dialog says so; the right one chosen there
    leads to the setup, the window, and after "Log out" a login with that CA and user."""
    from gui.main import run_gui
    from gui.window import MainWindow

    wrong = tmp_path / "wrong.pem"
    wrong.write_text("not a certificate\n")
    code = (new_server.data_dir / "setup-code").read_text().strip()
    seen: list[str] = []

    def visible(kind: type) -> list:
        return [w for w in QApplication.topLevelWidgets()
                if isinstance(w, kind) and w.isVisible()]

    def drive() -> None:
        for dialog in visible(LoginDialog):
            if "first login" not in seen and "holds no certificate" in dialog.message.text():
                seen.append("first login")
                dialog.ca_file.edit.setText(str(files.office.ca_cert))
                dialog.submit()
            elif "window" in seen and "login again" not in seen:
                seen.append("login again")
                assert dialog.ca_file.path == str(files.office.ca_cert)
                assert dialog.username.text() == "admin"
                dialog.reject()
        for setup in visible(SetupDialog):
            if "setup" not in seen:
                seen.append("setup")
                setup.code.setText(code)
                setup.password.setText("first-admin-pw")
                setup.repeat.setText("first-admin-pw")
                setup.submit()
        for window in visible(MainWindow):
            if "window" not in seen:
                seen.append("window")
                window.logout_requested.emit()

    timer = QTimer(interval=100, timeout=drive)
    timer.start()
    try:
        run_gui(new_server.url, str(wrong))
    finally:
        timer.stop()
    assert seen == ["first login", "setup", "window", "login again"]
    api = AdminAPI(new_server.url, ca_file=str(files.office.ca_cert))
    api.login("admin", "first-admin-pw")
    allow = next(row for row in api.items("settings") if row["name"] == "admin_allow")
    assert allow["value"] == ["127.0.0.1", "::1"] and allow["source"] == "admin"


def test_the_ca_file_remembered_with_the_address_asks_the_first_question(
        qtbot, new_server: LiveServer, files: TLSFiles) -> None:
    """`modelproxy gui --url URL` without --ca-file, the CA remembered from an earlier
    connection: the setup is offered (the first question used that CA), and what it
    connected with is remembered for the next time."""
    from gui.main import run_gui
    from gui.window import MainWindow

    QSettings().setValue(SETTINGS_CA, str(files.office.ca_cert))
    seen: list[str] = []

    def drive() -> None:
        for widget in QApplication.topLevelWidgets():
            if not widget.isVisible():
                continue
            if isinstance(widget, LoginDialog) and "login" not in seen:
                seen.append("login")  # not expected: the setup comes first
                widget.reject()
            elif isinstance(widget, SetupDialog) and "setup" not in seen:
                seen.append("setup")
                widget.code.setText((new_server.data_dir / "setup-code").read_text().strip())
                widget.password.setText("first-admin-pw")
                widget.repeat.setText("first-admin-pw")
                widget.submit()
            elif isinstance(widget, MainWindow) and "window" not in seen:
                seen.append("window")
                QTimer.singleShot(200, widget.close)

    timer = QTimer(interval=100, timeout=drive)
    timer.start()
    try:
        run_gui(new_server.url)
    finally:
        timer.stop()
    assert seen == ["setup", "window"]
    assert QSettings().value(SETTINGS_URL) == new_server.url
    assert QSettings().value(SETTINGS_CA) == str(files.office.ca_cert)


def test_the_setup_dialogs_tab_order_runs_down_the_form(qtbot) -> None:
    status = {"needed": True, "address": "192.0.2.2", "admin_allow": [],
              "admin_allow_source": "none"}
    dialog = SetupDialog(Tasks(), AdminAPI("https://127.0.0.1:1"), None, status=status)
    qtbot.addWidget(dialog)
    assert dialog.access.title() == "Who may use the admin API"
    assert dialog.access.addresses.text() == "192.0.2.2"
    chain, widget = [], dialog.code
    while len(chain) < 6:
        if isinstance(widget, (QLineEdit, QCheckBox)):
            chain.append(widget)
        widget = widget.nextInFocusChain()
    assert chain == [dialog.code, dialog.username, dialog.password, dialog.repeat,
                     dialog.access.only, dialog.access.addresses]
