"""Starting the window: logging in, first-run setup, desktop mode's own server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PySide6.QtWidgets import QDialog

from app.settings import load_settings
from gui.api import AdminAPI, APIError, Unreachable
from gui.dialogs.connect import LoginDialog, SetupDialog, explain
from gui.main import start_local_server
from gui.server_process import LocalServer, answers, serve_command
from gui.tasks import Tasks
from tests.gui.conftest import ADMIN
from tests.live import LiveServer, free_port


def login(qtbot, url: str, username: str, password: str) -> LoginDialog:
    dialog = LoginDialog(Tasks())
    qtbot.addWidget(dialog)
    dialog.url.setText(url)
    dialog.username.setText(username)
    dialog.password.setText(password)
    dialog.submit()
    return dialog


def test_login_with_the_right_password_opens_a_session(qtbot, gui_server) -> None:
    dialog = login(qtbot, gui_server.url, *ADMIN)
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
    assert dialog.api.user["username"] == "admin" and dialog.api.is_admin
    assert dialog.api.items("providers")[0]["name"] == "echo"


def test_wrong_password_is_explained_in_the_dialog(qtbot, gui_server) -> None:
    dialog = login(qtbot, gui_server.url, "admin", "not-the-password")
    qtbot.waitUntil(lambda: dialog.message.text() == "Wrong username or password.",
                    timeout=10_000)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.buttons.isEnabled()


def test_unreachable_server_is_explained(qtbot) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    dialog = login(qtbot, url, *ADMIN)
    qtbot.waitUntil(lambda: "cannot reach the server" in dialog.message.text(),
                    timeout=10_000)
    assert "Is the server running" in dialog.message.text()


def test_lockout_and_refusal_messages() -> None:
    assert "locked" in explain(APIError(429, "too many failed logins", "login_locked"))
    assert explain(APIError(403, "the admin API is not open to this address")).startswith(
        "Refused")
    refused = explain(APIError(403, "the admin API is not open to this address (10.0.0.9)",
                               "ip_not_allowed"))
    assert refused.startswith("Refused: the admin API is not open to this address (10.0.0.9).")
    assert "Settings (admin_allow)" in refused and "MODELPROXY_ADMIN_ALLOW" in refused
    assert "cannot reach" in explain(Unreachable("cannot reach the server at http://x"))


def test_first_run_setup_reads_the_code_and_creates_the_admin(qtbot, tmp_path) -> None:
    data_dir = tmp_path / "data"
    with LiveServer(data_dir) as live:
        api = AdminAPI(live.url)
        assert api.setup_needed()
        dialog = SetupDialog(Tasks(), api, data_dir / "setup-code")
        qtbot.addWidget(dialog)
        assert dialog.code.text() == (data_dir / "setup-code").read_text().strip()
        dialog.password.setText("first-admin-pw")
        dialog.repeat.setText("first-admin-pw")
        dialog.submit()
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
        assert api.user["username"] == "admin"
        assert not api.setup_needed()
        assert not (data_dir / "setup-code").exists()


def test_setup_with_mismatched_passwords_sends_nothing(qtbot, tmp_path) -> None:
    with LiveServer(tmp_path / "data") as live:
        api = AdminAPI(live.url)
        dialog = SetupDialog(Tasks(), api, tmp_path / "data" / "setup-code")
        qtbot.addWidget(dialog)
        dialog.password.setText("one-password")
        dialog.repeat.setText("another-one")
        dialog.submit()
        assert dialog.message.text() == "The passwords differ."
        assert api.setup_needed()


def test_desktop_mode_starts_and_stops_its_own_server(qtbot, tmp_path) -> None:
    settings = load_settings({"data_dir": str(tmp_path / "data"), "port": free_port()},
                             environ={}, env_file=None)
    url = f"http://127.0.0.1:{settings.port}"
    assert not answers(url)
    server = start_local_server(Tasks(), settings)
    assert isinstance(server, LocalServer)
    try:
        assert answers(url)
        assert AdminAPI(url).setup_needed()  # a fresh data directory: setup comes first
        assert (tmp_path / "data" / "setup-code").is_file()
    finally:
        assert server.stop() == 0  # a graceful stop
    assert not answers(url)


def test_a_server_that_cannot_start_is_reported(tmp_path) -> None:
    with socket.socket() as taken:  # something else holds the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = LocalServer(taken.getsockname()[1], tmp_path / "data")
        server.start()
        with pytest.raises(Unreachable, match="address already in use"):
            server.wait_healthy(timeout=20)


def test_the_child_server_is_this_executable() -> None:
    command = serve_command(8787)
    assert command[0] == sys.executable
    assert command[-6:] == ["--host", "127.0.0.1", "--port", "8787", "--workers", "1"]


def test_the_windows_server_is_one_worker_whatever_the_environment_says(
        tmp_path, monkeypatch) -> None:
    """MODELPROXY_WORKERS=2 without Redis makes `serve` refuse; the window's own server
    ignores it and runs as one process."""
    monkeypatch.setenv("MODELPROXY_WORKERS", "2")
    server = LocalServer(free_port(), tmp_path / "data")
    server.start()
    try:
        server.wait_healthy(timeout=30)
        response = requests.get(server.url + "/api/health", timeout=5)
        assert response.headers["X-ModelProxy-Worker"] == f"1; pid={server.process.pid}"
    finally:
        assert server.stop() == 0


def test_desktop_mode_end_to_end(qtbot, tmp_path) -> None:
    """`modelproxy desktop` as a person meets it: the server is started, the login dialog
    shows, the window opens; closing it logs out and stops the server it started."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main import run_desktop
    from gui.window import MainWindow
    from tests.gui.conftest import seed

    seed(tmp_path / "data")
    settings = load_settings({"data_dir": str(tmp_path / "data"), "port": free_port()},
                             environ={}, env_file=None)
    seen: list[str] = []

    def drive() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, LoginDialog) and widget.isVisible() and "login" not in seen:
                seen.append("login")
                widget.username.setText(ADMIN[0])
                widget.password.setText(ADMIN[1])
                widget.submit()
            elif isinstance(widget, MainWindow) and widget.isVisible() and "window" not in seen:
                seen.append("window")
                assert widget.ctx.api.user["username"] == ADMIN[0]
                QTimer.singleShot(500, widget.close)

    timer = QTimer(interval=100, timeout=drive)
    timer.start()
    try:
        assert run_desktop(settings) == 0
    finally:
        timer.stop()
    assert seen == ["login", "window"]
    assert not answers(f"http://127.0.0.1:{settings.port}")  # the server it started is gone


def test_the_window_server_ends_if_the_window_process_is_killed(tmp_path) -> None:
    """A process that started a LocalServer and is then killed takes the server with it."""
    port = free_port()
    script = (f"import sys; sys.path.insert(0, {str(Path.cwd())!r})\n"
              "from gui.server_process import LocalServer\n"
              f"s = LocalServer({port}, __import__('pathlib').Path({str(tmp_path)!r}))\n"
              "s.start(); s.wait_healthy(); print('up', flush=True)\n"
              "import time; time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "up"
        assert answers(f"http://127.0.0.1:{port}")
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and answers(f"http://127.0.0.1:{port}"):
        time.sleep(0.2)
    assert not answers(f"http://127.0.0.1:{port}")
