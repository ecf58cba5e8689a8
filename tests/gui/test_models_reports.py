"""The report table models on their own: columns, display text, sort values, Qt's checks."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gui.models.base import ROW_ROLE, SORT_ROLE
from gui.models.logs import LogsModel, local_time
from gui.models.usage import UsageBreakdownModel, breakdown_rows, group_name
from gui.pages.log_detail import attempt_rows, detail_html

DISPLAY = Qt.ItemDataRole.DisplayRole


def log_row(row_id: int, time: str, status: int = 200, **extra: object) -> dict:
    return {"id": row_id, "request_id": f"req-{row_id}", "time": time, "token_id": 1,
            "token": "laptop", "endpoint_id": 1, "endpoint": "chat", "provider_id": 1,
            "model": "echo-1", "status": status, "latency_ms": 12.4, "ttfb_ms": None,
            "prompt_tokens": 1200, "completion_tokens": 7, "usage_estimated": False,
            "client_ip": "127.0.0.1", "stream": False, "error": None, "client_dialect": None,
            "provider_dialect": None, "agent_session": None, **extra}



def test_logs_model_columns_show_each_field(qtmodeltester) -> None:
    model = LogsModel()
    model.set_rows([log_row(2, "2026-03-01T10:00:05Z"),
                    log_row(1, "2026-03-01T10:00:00Z", 401, token=None, error="unknown token")])
    headers = model.headers()
    assert headers == ["Time", "Status", "Token", "Endpoint", "Model", "Dialect", "Session",
                       "Latency", "Prompt", "Completion", "Cost", "Estimated", "Client IP",
                       "Request ID", "Error"]
    assert model.cell(0, "time") == local_time("2026-03-01T10:00:05Z")
    assert model.cell(0, "latency_ms") == "12 ms"
    assert model.COLUMNS[model.column_index("latency_ms")].show({"latency_ms": 0.136}) == "0.1 ms"
    assert model.cell(0, "prompt_tokens") == "1,200"
    assert model.cell(0, "usage_estimated") == "no"
    assert model.cell(0, "request_id") == "req-2"
    assert model.cell(1, "token") == "—"
    assert model.cell(1, "error") == "unknown token"
    assert model.cell(1, "status") == "401"
    assert model.cell(1, "status", Qt.ItemDataRole.ForegroundRole) is not None
    assert model.cell(0, "latency_ms", SORT_ROLE) == 12.4
    assert (model.cell(0, "dialect"), model.cell(0, "agent_session")) == ("—", "—")
    assert model.cell(0, "time", SORT_ROLE) == "2026-03-01T10:00:05Z"
    assert model.cell(1, "time", ROW_ROLE)["id"] == 1
    qtmodeltester.check(model)


def test_logs_model_shows_dialects_and_session(qtmodeltester) -> None:
    model = LogsModel()
    model.set_rows([
        log_row(3, "2026-03-01T10:00:09Z", client_dialect="messages", provider_dialect="chat",
                agent_session="7f3c-claude"),
        log_row(2, "2026-03-01T10:00:05Z", client_dialect="chat", provider_dialect="chat"),
        log_row(1, "2026-03-01T10:00:00Z", 401, client_dialect="responses")])
    assert [model.cell(i, "dialect") for i in range(3)] == [
        "messages → chat", "chat", "responses"]  # a refused request reached no provider
    assert model.cell(0, "agent_session") == "7f3c-claude"
    model.rows[0]["agent_session"] = "5f0c8a2e-1111-4a7b-9c3d-aaaaaaaaaaaa"
    assert model.cell(0, "agent_session") == "5f0c8a2e…"  # a UUID took the columns after it
    assert model.cell(0, "agent_session", Qt.ItemDataRole.ToolTipRole) == model.rows[0][
        "agent_session"]
    qtmodeltester.check(model)


def test_logs_model_shows_each_requests_cost(qtmodeltester) -> None:
    model = LogsModel()
    model.set_rows([log_row(3, "2026-03-01T10:00:09Z", cost=0.0042),
                    log_row(2, "2026-03-01T10:00:05Z", cost=None),  # the model had no price
                    log_row(1, "2026-03-01T10:00:00Z", 401, cost=None, prompt_tokens=0,
                            completion_tokens=0),  # refused: nothing spent
                    log_row(0, "2026-03-01T09:00:00Z")])  # a server before costs
    assert [model.cell(i, "cost") for i in range(4)] == ["$0.0042", "no price", "—",
                                                         "no price"]
    assert model.cell(0, "cost", SORT_ROLE) == 0.0042
    assert model.cell(0, "cost", Qt.ItemDataRole.TextAlignmentRole) is not None
    qtmodeltester.check(model)


def test_the_detail_pane_lists_each_attempt() -> None:
    failed = {"target_id": 4, "provider_id": 2, "model": "gpt-4o", "status": 503,
              "latency_ms": 812.0, "error": "upstream 503: overloaded"}
    answered = {"target_id": 5, "provider_id": 7, "model": "llama3", "status": 200,
                "latency_ms": 95.5, "error": None}
    row = log_row(9, "2026-03-01T10:00:09Z", attempts=2, attempt_log=[failed, answered],
                  cost=0.0042, provider_id=7, model="llama3")
    assert attempt_rows(row, {2: "openai"}) == [
        ("1", "openai", "gpt-4o", "503", "812 ms", "upstream 503: overloaded"),
        ("2", "#7", "llama3", "200", "96 ms", "")]  # a provider deleted since: its id
    page = detail_html(row, {2: "openai", 7: "local"})
    assert "2 attempts" in page and "upstream 503: overloaded" in page
    assert "openai: gpt-4o &mdash; 503 in 812 ms" in page  # one line each: the pane is narrow
    assert "<th" not in page.split("<hr>")[0]  # no table of six columns (words broke)
    assert "$0.0042" in page and "attempt_log" not in page  # shown as the list
    single = log_row(8, "2026-03-01T10:00:08Z", attempt_log=None)
    assert attempt_rows(single, {1: "echo"}) == [("1", "echo", "echo-1", "200", "12 ms", "")]
    assert "Answered at the first attempt" in detail_html(single)
    refused = log_row(7, "2026-03-01T10:00:07Z", attempts=0, attempt_log=[], status=429)
    assert attempt_rows(refused) == []
    assert "Not sent to any target" in detail_html(refused)  # not "the provider said 429"
    assert "Select a request" in detail_html(None)


def test_logs_model_adds_only_rows_it_does_not_show() -> None:
    model = LogsModel()
    model.set_rows([log_row(2, "2026-03-01T10:00:05Z"), log_row(1, "2026-03-01T10:00:00Z")])
    assert model.newest_id() == max(row["id"] for row in model.rows)
    added = model.add_newer([log_row(4, "2026-03-01T10:00:06Z"),
                             log_row(3, "2026-03-01T10:00:05Z"),
                             log_row(2, "2026-03-01T10:00:05Z")])
    assert added == 2
    assert [r["id"] for r in model.rows] == [4, 3, 2, 1]
    assert model.add_older([log_row(1, "2026-03-01T10:00:00Z"),
                            log_row(0, "2026-03-01T09:59:00Z")]) == 1
    assert [r["id"] for r in model.rows] == [4, 3, 2, 1, 0]
    assert LogsModel().newest_id() is None


USAGE = {"bucket": "hour", "group_by": "token",
         "totals": {"requests": 5, "errors": 1, "prompt_tokens": 30, "completion_tokens": 9,
                    "cost": 0.000048, "p50_ms": 10, "p95_ms": 25},
         "series": [
             {"key": 1, "name": "laptop", "points": [],
              "totals": {"requests": 4, "errors": 0, "prompt_tokens": 30,
                         "completion_tokens": 9, "cost": 0.000048, "p50_ms": 10,
                         "p95_ms": 25, "cached_tokens": 12, "unpriced_requests": 0}},
             {"key": 2, "name": "ci", "points": [],
              "totals": {"requests": 3, "errors": 0, "prompt_tokens": 8,
                         "completion_tokens": 2, "cost": 1.5, "p50_ms": 10,
                         "p95_ms": 25, "cached_tokens": 0, "unpriced_requests": 2}},
             {"key": 3, "name": "local", "points": [],
              "totals": {"requests": 2, "errors": 0, "prompt_tokens": 8,
                         "completion_tokens": 2, "cost": 0.0, "p50_ms": 10,
                         "p95_ms": 25, "unpriced_requests": 2}},
             {"key": None, "name": None, "points": [],
              "totals": {"requests": 1, "errors": 1, "prompt_tokens": 0,
                         "completion_tokens": 0, "cost": 0.0, "p50_ms": None,
                         "p95_ms": None}}]}


def test_usage_breakdown_model_rows_and_sorting(qtmodeltester) -> None:
    model = UsageBreakdownModel()
    model.set_usage(USAGE)
    assert model.rowCount() == 4 and model.columnCount() == 9
    headers = model.headers()
    assert headers == ["Group", "Requests", "Errors", "Prompt tokens", "Completion tokens",
                       "Cached prompt tokens", "Cost", "p50", "p95"]
    assert model.cell(0, "name") == "laptop"
    assert model.cell(3, "name") == "(none)"
    assert model.cell(0, "requests") == "4"
    assert model.cell(0, "cached_tokens") == "12"
    assert model.cell(3, "cached_tokens") == "—"  # a server from before cached tokens
    assert model.cell(0, "cost") == "$0.000048"
    assert model.cell(1, "cost") == "$1.50 + no price"  # 2 of its requests had no price
    assert model.cell(2, "cost") == "no price"
    assert model.cell(3, "cost") == "—"
    assert model.cell(0, "p95_ms") == "25 ms"
    assert model.cell(3, "p50_ms") == "—"
    assert model.cell(0, "cost", SORT_ROLE) == 0.000048
    assert model.cell(3, "requests", SORT_ROLE) == 1
    assert model.csv_rows()[0][0] == "Group"
    assert model.csv_rows()[1][:3] == ["laptop", 4, 0]
    qtmodeltester.check(model)


def test_breakdown_rows_keep_the_group_key() -> None:
    rows = breakdown_rows(USAGE)
    assert [(r["key"], r["name"], r["requests"]) for r in rows] == [
        (1, "laptop", 4), (2, "ci", 3), (3, "local", 2), (None, "(none)", 1)]
    assert breakdown_rows({"series": []}) == []


def test_group_names_of_missing_and_deleted_things() -> None:
    assert group_name({"key": 0, "name": 0}) == "(none)"
    assert group_name({"key": "", "name": ""}) == "(none)"
    assert group_name({"key": 7, "name": 7}) == "#7"
    assert group_name({"key": "gpt-4o", "name": "gpt-4o"}) == "gpt-4o"
