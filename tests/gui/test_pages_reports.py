"""Overview, Usage and Logs pages against the live seeded server (real widgets, offscreen)."""

from __future__ import annotations

import csv
import time
import uuid

import pytest
import requests
from PySide6.QtCharts import QDateTimeAxis, QValueAxis
from PySide6.QtCore import QDateTime, Qt, QTimer

from gui.models.base import SORT_ROLE
from gui.models.usage import group_name
from gui.money import money
from gui.pages.logs import LogsPage
from gui.pages.overview import OverviewPage, card_texts
from gui.pages.usage import UsagePage
from gui.window import MainWindow

WAIT = 10_000


@pytest.fixture(autouse=True)
def seed_traffic_written(api) -> None:
    """The server writes the request log in batches: wait for the seed traffic to land."""
    deadline = time.monotonic() + 10
    while api.get("/overview")["requests_24h"] < 13 and time.monotonic() < deadline:
        time.sleep(0.05)


def loaded(qtbot, page, action=None):
    """Run `action` (default: refresh) and wait until the page shows the answer."""
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        (action or page.refresh)()
    return page


def make(qtbot, cls, ctx, show: bool = False, **attrs):
    page = cls(ctx)
    qtbot.addWidget(page)
    for name, value in attrs.items():
        setattr(page, name, value)
    if show:
        page.resize(1100, 700)
        page.show()
        qtbot.waitExposed(page)
    return page


def chat(server, text: str = "hi", request_id: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {server.client_token}"}
    if request_id:
        headers["X-Request-ID"] = request_id
    return requests.post(f"{server.url}/api/chat", headers=headers, timeout=10,
                         json={"messages": [{"role": "user", "content": text}]})


# --- overview ---------------------------------------------------------------------------------

def test_overview_cards_show_the_servers_numbers(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, OverviewPage, ctx))
    expected = card_texts(api.get("/overview"))
    shown = {key: card.value.text() for key, card in page.cards.items()}
    assert shown == expected
    assert int(shown["requests_today"].replace(",", "")) >= 1
    assert shown["upstream_health"] in ("1 ok", "1 not checked")  # echo, checked at start
    assert "echo" in page.cards["upstream_health"].toolTip()
    # The seed traffic's one refusal (a bad token, 401) is the client's, not upstream's.
    assert shown["upstream_errors"] == "0.0 % (0)"
    assert shown["client_errors"].endswith("(1)")


def test_overview_chart_has_requests_and_errors_per_hour(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, OverviewPage, ctx))
    chart = page.chart.chart()
    series = chart.series()
    assert [s.name() for s in series] == ["Requests", "Upstream errors", "Client errors"]
    assert 24 <= series[0].count() <= 25
    assert sum(series[0].at(i).y() for i in range(series[0].count())) >= 13
    assert sum(series[1].at(i).y() for i in range(series[1].count())) == 0
    assert sum(series[2].at(i).y() for i in range(series[2].count())) >= 1
    x_axes = [a for a in chart.axes() if isinstance(a, QDateTimeAxis)]
    y_axes = [a for a in chart.axes() if isinstance(a, QValueAxis)]
    assert len(x_axes) == 1 and x_axes[0].format() == "HH:mm" and x_axes[0].titleText()
    assert len(y_axes) == 1 and y_axes[0].titleText() == "Requests per hour"
    assert chart.legend().isVisible()


# --- usage ------------------------------------------------------------------------------------

def test_usage_grouped_by_token_matches_the_api(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, UsagePage, ctx))
    assert page.model.rowCount() == 1 and page.model.rows[0]["name"] == "all"
    loaded(qtbot, page, lambda: page.group.setCurrentIndex(page.group.findData("token")))
    usage = api.get("/usage", range="24h", group_by="token")
    expected = {group_name(s): s["totals"] for s in usage["series"]}
    shown = {row["name"]: row for row in page.model.rows}
    assert set(shown) == set(expected) and "laptop" in shown
    for name, totals in expected.items():
        for key in ("requests", "errors", "prompt_tokens", "completion_tokens", "cost"):
            assert shown[name][key] == totals[key]
    laptop = page.model.rows.index(shown["laptop"])
    column = page.model.column_index("requests")
    requests_text = page.model.data(page.model.index(laptop, column))
    assert requests_text == f"{expected['laptop']['requests']:,}"
    assert len(page.chart.chart().series()) == len(expected)
    assert f"{usage['totals']['requests']:,} requests" in page.totals.text()


def test_usage_table_sorts_by_a_column(qtbot, ctx) -> None:
    page = make(qtbot, UsagePage, ctx)
    page.group.setCurrentIndex(page.group.findData("endpoint"))
    loaded(qtbot, page)
    column = page.model.column_index("requests")
    page.table.sortByColumn(column, page.table.horizontalHeader().sortIndicatorOrder())
    values = [page.table.proxy.index(r, column).data(page.table.proxy.sortRole())
              for r in range(page.table.proxy.rowCount())]
    assert values == sorted(values) or values == sorted(values, reverse=True)


def test_usage_range_switch_reloads_with_days(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, UsagePage, ctx))
    assert page.usage["bucket"] == "hour"
    loaded(qtbot, page, lambda: page.range.setCurrentIndex(page.range.findData("7d")))
    assert page.params["range"] == "7d" and page.usage["bucket"] == "day"
    points = page.chart.chart().series()[0].count()
    assert 7 <= points <= 8
    assert len(page.chart.chart().axes()) == 2  # the axes are reused, not piled up
    assert page.chart.x_axis.format() == "MMM d"
    page.metric.setCurrentIndex(page.metric.findData("cost"))
    assert page.chart.y_axis.titleText() == "Cost"
    assert page.chart.chart().title() == "Cost per day"
    assert page.model.rows[0]["requests"] >= 13


def test_usage_custom_range_and_a_server_error_in_the_banner(qtbot, ctx) -> None:
    page = make(qtbot, UsagePage, ctx)
    page.range.blockSignals(True)
    page.range.setCurrentIndex(page.range.findData("custom"))
    page.range.blockSignals(False)
    now = QDateTime.currentDateTime()
    page.custom.start.setDateTime(now.addSecs(-3 * 3600))
    page.custom.end.setDateTime(now.addSecs(60))
    loaded(qtbot, page)
    assert set(page.params) == {"group_by", "from", "to"}
    assert page.params["from"].endswith("Z")
    assert page.model.rows[0]["requests"] >= 1
    page.custom.start.setDateTime(now.addSecs(3600))  # after `to`: the server says no
    page.refresh()
    qtbot.waitUntil(lambda: "to must be after from" in ctx.banner.label.text(), timeout=WAIT)
    assert not ctx.banner.isHidden()


def test_usage_export_csv_writes_header_and_rows(qtbot, ctx, tmp_path) -> None:
    page = make(qtbot, UsagePage, ctx)
    page.group.setCurrentIndex(page.group.findData("endpoint"))
    loaded(qtbot, page)
    path = tmp_path / "usage.csv"
    page.export_csv(str(path))
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0] == ["Group", "Requests", "Errors", "Prompt tokens", "Completion tokens",
                       "Cached prompt tokens", "Cost", "p50", "p95"]
    assert len(rows) == 1 + page.model.rowCount()
    assert "chat" in [r[0] for r in rows[1:]]


# --- logs -------------------------------------------------------------------------------------

def test_logs_page_loads_the_newest_rows(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, LogsPage, ctx, page_size=5))
    rows, cursor = api.logs_page(5)
    assert [r["id"] for r in page.model.rows] == [r["id"] for r in rows]
    assert page.next_cursor is not None and cursor is not None
    assert "5 requests shown" in page.summary.text()
    qtbot.waitUntil(lambda: page.token.count() >= 2, timeout=WAIT)  # token choices arrived
    assert page.token.findText("laptop") >= 0


def test_logs_status_filter_shows_only_4xx(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, LogsPage, ctx))
    assert any(r["status"] < 400 for r in page.model.rows)
    loaded(qtbot, page, lambda: page.status.setCurrentIndex(page.status.findData("4xx")))
    statuses = [r["status"] for r in page.model.rows]
    assert statuses and all(400 <= s < 500 for s in statuses)
    assert page.next_cursor is None


def test_logs_custom_time_range(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, LogsPage, ctx))
    assert page.custom.isHidden()
    now = QDateTime.currentDateTime()
    page.custom.start.setDateTime(now.addSecs(-3600))
    page.custom.end.setDateTime(now.addSecs(120))
    loaded(qtbot, page, lambda: page.span.setCurrentIndex(page.span.findData("custom")))
    assert not page.custom.isHidden()
    assert page.filters()["from"].endswith("Z") and page.filters()["to"].endswith("Z")
    recent = [r["id"] for r in page.model.rows]
    assert recent == [r["id"] for r in api.logs_page(len(recent) or 1)[0]]
    page.custom.start.setDateTime(now.addDays(-3))
    page.custom.end.setDateTime(now.addDays(-2))  # before the seed traffic
    loaded(qtbot, page, page.custom.changed.emit)
    assert page.model.rowCount() == 0
    loaded(qtbot, page, lambda: page.span.setCurrentIndex(0))  # any time again
    assert page.custom.isHidden() and page.model.rowCount() >= 1


def test_logs_text_and_token_filters(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, LogsPage, ctx))
    qtbot.waitUntil(lambda: page.token.findText("laptop") >= 0, timeout=WAIT)
    loaded(qtbot, page, lambda: page.token.setCurrentIndex(page.token.findText("laptop")))
    assert page.model.rows and all(r["token"] == "laptop" for r in page.model.rows)
    loaded(qtbot, page, lambda: page.token.setCurrentIndex(0))
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.search.setText("no-such-error-text")  # applied after a short pause
    assert page.model.rowCount() == 0


def test_logs_infinite_scroll_fetches_the_next_page(qtbot, ctx, api, gui_server) -> None:
    for i in range(30):  # enough rows that pages remain after the table is filled
        chat(gui_server, f"scroll {i}")
    qtbot.waitUntil(lambda: len(api.logs_page(60)[0]) >= 40, timeout=WAIT)
    page = make(qtbot, LogsPage, ctx, page_size=5)
    page.resize(1100, 260)  # room for fewer than five rows: there is something to scroll
    page.show()
    qtbot.waitExposed(page)
    loaded(qtbot, page)
    bar = page.table.verticalScrollBar()
    # Settled: pages stop loading once the rows overflow the table (how many that takes
    # depends on font metrics), so count from there.
    qtbot.waitUntil(lambda: bar.maximum() > 0 and not page.loading, timeout=WAIT)
    before = page.model.rowCount()
    assert before % 5 == 0 and page.next_cursor is not None
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: page.model.rowCount() > before, timeout=WAIT)  # up to 5 more
    ids = [r["id"] for r in page.model.rows]
    assert len(set(ids)) == len(ids) and ids == sorted(ids, reverse=True)


def test_logs_pages_fill_a_tall_table(qtbot, ctx, api) -> None:
    page = make(qtbot, LogsPage, ctx, show=True, page_size=3)
    loaded(qtbot, page)
    rows_height, view = page.table.verticalHeader().length, page.table.viewport()

    def filled() -> bool:
        return not page.loading and (page.next_cursor is None
                                     or rows_height() > view.height())

    qtbot.waitUntil(lambda: page.model.rowCount() > 3 and filled(), timeout=WAIT)
    shown = [r["id"] for r in page.model.rows]
    newest, _cursor = api.logs_page(len(shown))
    assert shown == [r["id"] for r in newest]


def test_logs_detail_pane_shows_the_selected_row(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, LogsPage, ctx))
    page.table.selectRow(2)
    row = page.selected_row()
    assert row == page.model.rows[2]
    text = page.detail.toPlainText()
    assert row["request_id"] in text and "client_ip" in text and "latency_ms" in text


def test_logs_show_what_each_request_cost(qtbot, ctx) -> None:
    """The seed's chat endpoint has prices (1 and 2 $ per M tokens): its answers cost."""
    page = loaded(qtbot, make(qtbot, LogsPage, ctx))
    i = next(i for i, r in enumerate(page.model.rows)
             if r["endpoint"] == "chat" and r["status"] == 200)
    row = page.model.rows[i]
    assert row["cost"] > 0 and row["attempts"] == 1 and len(row["attempt_log"]) == 1
    assert page.model.cell(i, "cost") == money(row["cost"])
    refused = next(i for i, r in enumerate(page.model.rows) if r["status"] == 401)
    assert page.model.cell(refused, "cost") == "—"
    page.table.selectRow(page.table.proxy.mapFromSource(page.model.index(i, 0)).row())
    text = page.detail.toPlainText()
    assert "Answered at the first attempt" in text and money(row["cost"]) in text


def test_live_tail_adds_a_request_made_after_loading(qtbot, ctx, gui_server) -> None:
    page = loaded(qtbot, make(qtbot, LogsPage, ctx, tail_interval_ms=150))
    before = page.model.rowCount()
    page.set_live_tail(True)
    assert page.tail.isChecked() and page.tail_timer.isActive()
    request_id = f"tail-{uuid.uuid4().hex[:12]}"
    assert chat(gui_server, "tail me", request_id).status_code == 200
    qtbot.waitUntil(lambda: page.model.rows[0]["request_id"] == request_id, timeout=WAIT)
    qtbot.wait(500)  # a few more polls: nothing is added twice
    ids = [r["id"] for r in page.model.rows]
    assert len(ids) == len(set(ids)) == before + 1
    page.set_live_tail(False)
    assert not page.tail_timer.isActive()


def test_logs_export_csv_writes_the_filtered_rows(qtbot, ctx, api, tmp_path) -> None:
    page = make(qtbot, LogsPage, ctx)
    page.status.setCurrentIndex(page.status.findData("4xx"))
    loaded(qtbot, page)
    path = tmp_path / "logs.csv"
    with qtbot.waitSignal(page.exported, timeout=WAIT):
        page.export_csv(str(path))
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0][:3] == ["time", "request_id", "token"]
    expected, _cursor = api.logs_page(1000, status="4xx")
    assert sorted(r[1] for r in rows[1:]) == sorted(r["request_id"] for r in expected)
    assert "Exported" in ctx.banner.label.text()


def test_f5_reloads_and_ctrl_f_focuses_the_logs_text_filter(qtbot, ctx) -> None:
    page = LogsPage(ctx)
    window = MainWindow(ctx, pages=[OverviewPage(ctx), page])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    loaded(qtbot, page, lambda: window.sidebar.setCurrentRow(1))
    window.activateWindow()
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(page.search.hasFocus, timeout=WAIT)


# --- responsiveness ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [OverviewPage, UsagePage, LogsPage])
def test_window_stays_responsive_while_the_server_is_slow(qtbot, ctx, cls) -> None:
    real_get = ctx.api.get

    def slow_get(*args, **kwargs):
        time.sleep(2)
        return real_get(*args, **kwargs)

    ctx.api.get = slow_get
    try:
        page = make(qtbot, cls, ctx)
        ticks = []
        timer = QTimer(interval=50, timeout=lambda: ticks.append(1))
        timer.start()
        started = time.monotonic()
        with qtbot.waitSignal(page.loaded, timeout=WAIT):
            page.refresh()
            assert time.monotonic() - started < 0.5  # refresh returned at once
        timer.stop()
        assert time.monotonic() - started >= 2
        assert len(ticks) >= 10
    finally:
        del ctx.api.get


def test_logs_sort_by_a_header_click(qtbot, ctx) -> None:
    page = make(qtbot, LogsPage, ctx)
    loaded(qtbot, page)
    column = page.model.column_index("latency_ms")
    page.table.horizontalHeader().sectionClicked.emit(column)
    proxy = page.table.proxy
    shown = [proxy.index(r, column).data(SORT_ROLE) for r in range(proxy.rowCount())]
    assert len(shown) > 2 and shown == sorted(shown)
    page.table.horizontalHeader().sectionClicked.emit(column)
    shown = [proxy.index(r, column).data(SORT_ROLE) for r in range(proxy.rowCount())]
    assert shown == sorted(shown, reverse=True)


def test_logs_dialect_and_session_filters(qtbot, ctx) -> None:
    """The filters reach the server (the seed traffic is chat completions through the old
    routes, which record no dialect yet: a Messages filter finds none of it)."""
    page = loaded(qtbot, make(qtbot, LogsPage, ctx))
    assert page.model.rowCount() >= 1
    assert page.model.headers()[5:7] == ["Dialect", "Session"]
    loaded(qtbot, page, lambda: page.dialect.setCurrentIndex(page.dialect.findData("messages")))
    assert page.filters()["client_dialect"] == "messages" and page.model.rowCount() == 0
    loaded(qtbot, page, lambda: page.dialect.setCurrentIndex(0))
    assert "client_dialect" not in page.filters() and page.model.rowCount() >= 1
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.session.setText("no-such-session")
    assert page.filters()["agent_session"] == "no-such-session"
    assert page.model.rowCount() == 0


def test_a_rows_menu_shows_its_sessions_requests(qtbot, ctx) -> None:
    """The filter wants the whole id, which the Session column shortens: the menu fills it."""
    page = loaded(qtbot, make(qtbot, LogsPage, ctx))
    session = "5f0c8a2e-1111-4a7b-9c3d-aaaaaaaaaaaa"
    menu = page.row_menu({"agent_session": session})
    [only] = menu.actions()
    assert only.isEnabled() and session in only.text()
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        only.trigger()
    assert page.filters()["agent_session"] == session
    assert not page.row_menu({"agent_session": None}).actions()[0].isEnabled()


def test_usage_groups_by_dialect_and_session(qtbot, ctx) -> None:
    page = make(qtbot, UsagePage, ctx)
    for key in ("client_dialect", "provider_dialect", "agent_session"):
        loaded(qtbot, page, lambda key=key: page.group.setCurrentIndex(page.group.findData(key)))
        assert page.params["group_by"] == key
        shown = page.table.model()
        names = [shown.index(i, 0).data() for i in range(shown.rowCount())]
        # The seed traffic is chat completions with no agent session.
        assert "(none)" in names or "chat" in names, (key, names)
        assert set(names) <= {"(none)", "chat"}, (key, names)
