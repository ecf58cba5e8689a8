"""The window and an https:// server: the admin-API client trusting a given CA, the
connect dialog's CA file, and desktop mode's own server staying plain loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog

from gui.api import AdminAPI, Unreachable
from gui.dialogs.connect import SETTINGS_CA, LoginDialog
from gui.server_process import LocalServer, answers
from gui.tasks import Tasks
from tests.gui.conftest import ADMIN, seed
from tests.live import LiveServer, free_port
from tests.tlsfiles import TLSFiles, make_tls_files


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, files: TLSFiles
               ) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("gui-tls") / "data"
    seed(data_dir)
    with LiveServer(data_dir, env=files.env, ca_file=files.office.ca_cert) as live:
        yield live


@pytest.fixture
def no_remembered_ca() -> Iterator[None]:
    """The dialog remembers its CA file; other tests' dialogs must not find this one's."""
    yield
    QSettings().remove(SETTINGS_CA)


def test_the_admin_api_over_https_with_the_ca(tls_server: LiveServer, files: TLSFiles) -> None:
    api = AdminAPI(tls_server.url, ca_file=str(files.office.ca_cert))
    api.login(*ADMIN)
    assert api.items("providers")[0]["name"] == "echo"
    assert api.health()["status"] == "ok"
    assert b"request_id" in b"".join(api.logs_csv())


def test_an_untrusted_certificate_says_which_file_to_choose(tls_server: LiveServer,
                                                           files: TLSFiles) -> None:
    with pytest.raises(Unreachable) as refused:
        AdminAPI(tls_server.url).login(*ADMIN)
    assert refused.value.code == "untrusted_certificate"
    assert f"the certificate of {tls_server.url} is not trusted" in refused.value.message
    assert "choose the CA file that signed it" in refused.value.message
    with pytest.raises(Unreachable, match=r"check that the CA in .*stranger/ca.pem signed it"):
        AdminAPI(tls_server.url, ca_file=str(files.stranger.ca_cert)).health()


def test_the_connect_dialog_takes_a_ca_file_and_remembers_it(
        qtbot, tls_server: LiveServer, files: TLSFiles, no_remembered_ca: None) -> None:
    dialog = LoginDialog(Tasks())
    qtbot.addWidget(dialog)
    dialog.url.setText(tls_server.url)
    dialog.username.setText(ADMIN[0])
    dialog.password.setText(ADMIN[1])
    dialog.submit()
    qtbot.waitUntil(lambda: "not trusted" in dialog.message.text(), timeout=10_000)
    assert "Choose the CA file" not in dialog.message.text()
    assert dialog.message.text().startswith(f"The certificate of {tls_server.url}")
    dialog.ca_file.edit.setText(str(files.office.ca_cert))
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
    assert dialog.api.ca_file == str(files.office.ca_cert)
    assert QSettings().value(SETTINGS_CA) == str(files.office.ca_cert)
    again = LoginDialog(Tasks())
    qtbot.addWidget(again)
    assert again.ca_file.path == str(files.office.ca_cert)


def test_a_missing_ca_file_is_said_before_connecting(qtbot, tmp_path, no_remembered_ca: None
                                                      ) -> None:
    dialog = LoginDialog(Tasks())
    qtbot.addWidget(dialog)
    dialog.ca_file.edit.setText(str(tmp_path / "gone.pem"))
    dialog.submit()
    assert dialog.message.text() == f"There is no CA file at {tmp_path / 'gone.pem'}."


def test_desktop_modes_own_server_stays_plain_loopback(tmp_path, files: TLSFiles,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """TLS settings meant for the office server (here in the environment) do not reach
    the window's own child server: it answers on http://127.0.0.1."""
    for name, value in files.env.items():
        monkeypatch.setenv(name, value)
    server = LocalServer(free_port(), tmp_path / "data")
    server.start()
    try:
        server.wait_healthy(timeout=20)
        assert server.url.startswith("http://127.0.0.1:") and answers(server.url)
    finally:
        assert server.stop() == 0
