"""The banner never moves the page under the pointer, and a "cannot reach the server"
banner goes away by itself once the server answers again."""

from __future__ import annotations

from PySide6.QtCore import QPoint

from gui.api import AdminAPI, Unreachable
from gui.pages.base import Context
from gui.pages.tokens import TokensPage
from gui.tasks import Tasks
from gui.widgets import Banner
from gui.window import MainWindow
from tests.gui.conftest import ADMIN
from tests.live import LiveServer

WAIT = 10_000


def first_row_y(window: MainWindow, page: TokensPage) -> int:
    """Where the first row of the tokens table is, in window coordinates."""
    rect = page.table.visualRect(page.table.model().index(0, 0))
    return page.table.viewport().mapTo(window, QPoint(0, rect.center().y())).y()


def test_showing_and_hiding_the_banner_does_not_move_the_rows(qtbot, ctx) -> None:
    page = TokensPage(ctx)
    window = MainWindow(ctx, pages=[page])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitSignal(page.loaded, timeout=WAIT)
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=WAIT)
    before = first_row_y(window, page)
    shifts = []
    for text, kind in (("Token laptop revoked", "ok"),
                       ("a long error from the server " * 12, "error")):
        ctx.banner.show_message(text, kind)
        qtbot.waitUntil(ctx.banner.isVisible)
        shifts.append(first_row_y(window, page) - before)
        ctx.banner.hide()
        qtbot.wait(50)
        shifts.append(first_row_y(window, page) - before)
    assert shifts == [0, 0, 0, 0]


def test_an_unreachable_banner_clears_once_a_later_call_succeeds(qtbot, ctx) -> None:
    ctx.banner.show_error(Unreachable(f"cannot reach the server at {ctx.api.base_url}"))
    assert not ctx.banner.isHidden()
    with qtbot.waitSignal(ctx.tasks.busy_changed, timeout=WAIT,
                          check_params_cb=lambda busy: busy == 0):
        ctx.run(lambda: ctx.api.items("tokens"))
    assert ctx.banner.isHidden() or "again" in ctx.banner.label.text()


def test_other_errors_stay_after_a_later_call_succeeds(qtbot, ctx) -> None:
    ctx.banner.show_message("a provider named 'echo' already exists")
    with qtbot.waitSignal(ctx.tasks.busy_changed, timeout=WAIT,
                          check_params_cb=lambda busy: busy == 0):
        ctx.run(lambda: ctx.api.items("tokens"))
    assert not ctx.banner.isHidden()
    assert ctx.banner.label.text() == "a provider named 'echo' already exists"


def test_the_unreachable_banner_clears_when_the_server_comes_back(qtbot, tmp_path) -> None:
    """No other call needed: while it says the server cannot be reached, the window keeps
    asking the server's health, and says when it answers again."""
    from tests.gui.conftest import seed

    seed(tmp_path / "data")
    live = LiveServer(tmp_path / "data").start()
    api = AdminAPI(live.url)
    api.login(*ADMIN)
    live.stop()
    banner = Banner()
    qtbot.addWidget(banner)
    tasks = Tasks()
    ctx = Context(api, tasks, banner, probe_interval_ms=200)
    failed = []
    ctx.run(lambda: api.items("tokens"), on_error=lambda e: (failed.append(e),
                                                             banner.show_error(e)))
    qtbot.waitUntil(lambda: bool(failed), timeout=WAIT)
    assert "cannot reach the server" in banner.label.text()
    restarted = LiveServer(tmp_path / "data")
    restarted.port, restarted.url = live.port, live.url  # the same address, back again
    with restarted:
        qtbot.waitUntil(lambda: "again" in banner.label.text(), timeout=WAIT)
    tasks.wait()
