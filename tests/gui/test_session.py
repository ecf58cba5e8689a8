"""Desktop mode's server and the window's life: "Log out" logs out (the server runs on);
closing asks first when clients used the server lately; keep serving from the tray."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.settings import Settings, load_settings
from gui.dialogs.connect import LoginDialog
from gui.main import open_window, run_desktop, start_local_server
from gui.server_process import LocalServer, answers
from gui.session import BACKGROUND, CANCEL, STOP, Session
from gui.tasks import Tasks
from gui.window import MainWindow
from tests.gui.conftest import ADMIN, seed
from tests.live import free_port


@pytest.fixture
def desktop(tmp_path: Path) -> tuple[Settings, str]:
    """A seeded data directory and a free port for desktop mode; the client token."""
    token = seed(tmp_path / "data")
    settings = load_settings({"data_dir": str(tmp_path / "data"), "port": free_port()},
                             environ={}, env_file=None)
    return settings, token


def visible(kind: type) -> list:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]


def log_in(dialog: LoginDialog) -> None:
    dialog.username.setText(ADMIN[0])
    dialog.password.setText(ADMIN[1])
    dialog.submit()


def click(box: QMessageBox, name: str) -> None:
    next(b for b in box.buttons() if b.objectName() == name).click()


def client_request(url: str, token: str) -> None:
    """One client request, then wait until its log row is written (batches of 250 ms)."""
    requests.post(f"{url}/api/chat", headers={"Authorization": f"Bearer {token}"},
                  json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10)


class Driver:
    """Steps run one at a time from a timer, each when its widget is on screen, the way a
    person would click through."""

    def __init__(self, steps: list[tuple[str, type, Callable[[object], None]]]) -> None:
        self.steps = steps
        self.seen: list[str] = []
        self.timer = QTimer(interval=100, timeout=self.tick)

    def tick(self) -> None:
        if len(self.seen) == len(self.steps):
            return
        name, kind, act = self.steps[len(self.seen)]
        shown = visible(kind)
        if shown:
            self.seen.append(name)
            act(shown[0])

    def __enter__(self) -> Driver:
        self.timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.timer.stop()
        for box in visible(QMessageBox):  # a failed test must not leave a modal open
            box.reject()


def test_log_out_shows_the_login_again_and_the_server_keeps_running(qtbot, desktop) -> None:
    settings, _token = desktop
    url = f"http://127.0.0.1:{settings.port}"
    served_while_logged_out: list[bool] = []

    def logged_out(dialog: LoginDialog) -> None:
        served_while_logged_out.append(answers(url))
        log_in(dialog)

    steps = [("login", LoginDialog, log_in),
             ("window", MainWindow, lambda w: QTimer.singleShot(300, w.logout_button.click)),
             ("login again", LoginDialog, logged_out),
             ("window again", MainWindow, lambda w: QTimer.singleShot(300, w.close))]
    with Driver(steps) as driver:
        assert run_desktop(settings) == 0
    assert driver.seen == ["login", "window", "login again", "window again"]
    assert served_while_logged_out == [True]  # logging out did not stop the server
    assert not answers(url)  # closing the window (no client used it) did


def test_closing_asks_when_clients_used_the_server(qtbot, desktop) -> None:
    settings, token = desktop
    url = f"http://127.0.0.1:{settings.port}"
    asked: list[str] = []

    def used_then_closed(window: MainWindow) -> None:
        client_request(url, token)
        QTimer.singleShot(800, window.close)  # the log row is written within 250 ms

    def answer(choice: str) -> Callable[[QMessageBox], None]:
        def act(box: QMessageBox) -> None:
            asked.append(box.text())
            names = [b.objectName() for b in box.buttons()]
            assert BACKGROUND not in names  # offscreen has no system tray to go to
            if choice == CANCEL:
                assert answers(url)
                QTimer.singleShot(300, lambda: visible(MainWindow)[0].close())
            click(box, choice)
        return act

    steps = [("login", LoginDialog, log_in), ("window", MainWindow, used_then_closed),
             ("asked", QMessageBox, answer(CANCEL)), ("asked again", QMessageBox, answer(STOP))]
    with Driver(steps) as driver:
        assert run_desktop(settings) == 0
    assert driver.seen == ["login", "window", "asked", "asked again"]
    assert asked[0] == "Clients used this server in the last 15 minutes (1 requests)."
    assert not answers(url)  # stopped only once "Stop the server" was chosen


def test_quiet_close_asks_nothing_and_stops_the_server(qtbot, desktop) -> None:
    settings, _token = desktop
    steps = [("login", LoginDialog, log_in),
             ("window", MainWindow, lambda w: QTimer.singleShot(300, w.close)),
             ("asked", QMessageBox, lambda box: box.reject())]
    with Driver(steps) as driver:
        assert run_desktop(settings) == 0
    assert driver.seen == ["login", "window"]
    assert not answers(f"http://127.0.0.1:{settings.port}")


@pytest.fixture
def local_server(qtbot, desktop) -> Iterator[tuple[LocalServer, str]]:
    settings, token = desktop
    server = start_local_server(Tasks(), settings)
    assert isinstance(server, LocalServer)
    try:
        yield server, token
    finally:
        server.stop()


def test_keep_serving_in_the_background_from_the_tray(qtbot, local_server) -> None:
    """With a system tray (the desktop's; offscreen has none, so it is said to be there):
    the window hides, the server serves, the tray's Open shows the window, Quit ends."""
    server, token = local_server
    tasks = Tasks()
    app = QApplication.instance()

    def log_in_once(_first: bool):
        dialog = LoginDialog(tasks, server.url)
        QTimer.singleShot(100, lambda: log_in(dialog))
        return dialog.api if dialog.exec() else None

    session = Session(app, tasks, log_in_once, lambda api: open_window(api, tasks),
                      server=server, tray_available=True)
    states: list[tuple[bool, bool]] = []

    def in_background(box: QMessageBox) -> None:
        click(box, BACKGROUND)
        QTimer.singleShot(300, lambda: (
            states.append((session.window.isVisible(), answers(server.url))),
            session.tray.contextMenu().actions()[0].trigger()))  # Open

    def reopened(window: MainWindow) -> None:
        states.append((window.isVisible(), session.tray.isVisible()))
        [_open, quit_action] = session.tray.contextMenu().actions()
        assert (_open.text(), quit_action.text()) == ("Open", "Quit")
        QTimer.singleShot(100, quit_action.trigger)

    def used_then_closed(window: MainWindow) -> None:
        client_request(server.url, token)
        QTimer.singleShot(800, window.close)

    steps = [("window", MainWindow, used_then_closed),
             ("asked", QMessageBox, in_background),
             ("reopened", MainWindow, reopened)]
    with Driver(steps) as driver:
        assert session.run() == 0
    assert driver.seen == ["window", "asked", "reopened"]
    assert states == [(False, True), (True, False)]  # hidden and serving; then shown again
    assert answers(server.url)  # Quit ended the window; the caller stops its server
