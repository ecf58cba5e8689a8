"""Providers, Endpoints, Tokens, Admins, Settings and Audit pages against the live seeded
server (real widgets, offscreen). The server is shared: what a test makes has a unique name."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from PySide6.QtCore import QDate, QDateTime, Qt, QTime, QTimeZone
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog

from gui.dialogs.endpoint import EndpointDialog
from gui.dialogs.provider import ProviderDialog, parse_headers
from gui.models.base import ROW_ROLE
from gui.models.routes import health_text
from gui.pages import build_pages
from gui.pages.audit import AuditPage
from gui.pages.endpoints import EndpointsPage
from gui.pages.providers import ProvidersPage
from gui.pages.settings import AdminsPage, SettingsPage
from gui.pages.tokens import TokensPage

WAIT = 10_000


@pytest.fixture
def yes(monkeypatch) -> list[str]:
    """Every confirmation answered yes; the questions asked are collected."""
    asked: list[str] = []
    monkeypatch.setattr("gui.dialogs.confirm.confirm",
                        lambda _parent, text, *a, **k: asked.append(text) or True)
    return asked


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make(qtbot, cls, ctx, show: bool = False):
    page = cls(ctx)
    qtbot.addWidget(page)
    if show:
        page.resize(1100, 700)
        page.show()
        qtbot.waitExposed(page)
    return page


def loaded(qtbot, page, action=None):
    """Run `action` (default: refresh) and wait until the page shows fresh data."""
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        (action or page.refresh)()
    return page


def rows(page) -> list[dict]:
    return page.model.rows


def row_named(page, name: str, key: str = "name") -> dict:
    return next(r for r in rows(page) if r[key] == name)


def select(page, name: str, key: str = "name") -> dict:
    """Select the row whose `key` is `name` in the page's table."""
    proxy = page.table.proxy
    for i in range(proxy.rowCount()):
        row = proxy.data(proxy.index(i, 0), ROW_ROLE)
        if row[key] == name:
            page.table.selectRow(i)
            return row
    raise AssertionError(f"no row {key}={name!r}")


def submit(qtbot, page, dialog) -> object:
    """Submit a dialog; wait for its answer and for the page to reload."""
    answers: list = []
    dialog.saved.connect(answers.append)
    with qtbot.waitSignals([dialog.saved, page.loaded], timeout=WAIT):
        dialog.submit()
    return answers[0]


def fails(qtbot, dialog) -> str:
    with qtbot.waitSignal(dialog.failed, timeout=WAIT) as blocker:
        dialog.submit()
    return blocker.args[0].message


def cell_texts(page) -> list[str]:
    model = page.model
    return [model.data(model.index(r, c)) for r in range(model.rowCount())
            for c in range(model.columnCount())]


def by_name(api, resource: str, name: str) -> dict | None:
    return next((r for r in api.items(resource) if r.get("name") == name), None)


def add_provider(qtbot, page, name: str, **fields: str) -> dict:
    dialog = page.make_add_dialog()
    dialog.name.setText(name)
    dialog.type.setCurrentText(fields.get("type", "echo"))
    dialog.api_key.setText(fields.get("api_key", ""))
    dialog.base_url.setText(fields.get("base_url", ""))
    dialog.headers.setPlainText(fields.get("headers", ""))
    return submit(qtbot, page, dialog)


# --- providers ---------------------------------------------------------------------------------

def test_providers_page_lists_the_servers_providers(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, ProvidersPage, ctx))
    echo = row_named(page, "echo")
    assert echo["type"] == "echo"
    assert "echo" in cell_texts(page)
    assert page.add.isEnabled() and not page.edit.isEnabled()  # nothing selected yet
    select(page, "echo")
    assert page.edit.isEnabled() and page.test.isEnabled() and page.toggle.text() == "Disable"


def test_add_provider_through_the_dialog_keeps_the_key_secret(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, ProvidersPage, ctx))
    name = unique("prov")
    add_provider(qtbot, page, name, type="openai_compatible", api_key="sk-test-0123456789a1b2",
                 base_url="http://127.0.0.1:9/v1",
                 headers="X-Title: ModelProxy\n\nX-Org-Key: org-credential-77c3")
    stored = by_name(api, "providers", name)
    assert stored["type"] == "openai_compatible" and stored["api_key_set"]
    assert stored["base_url"] == "http://127.0.0.1:9/v1"
    assert stored["api_key_hint"] == "…a1b2"
    assert stored["headers"] == {"X-Title": "…", "X-Org-Key": "…77c3"}  # values: hints only
    assert name in [r["name"] for r in rows(page)]
    assert "sk-test-0123456789a1b2" not in " ".join(cell_texts(page))
    assert ctx.banner.label.text() == f"Provider {name} added"

    edit = page.make_edit_dialog(row_named(page, name))  # the key is never shown back
    assert edit.api_key.text() == "" and "key set …a1b2" in edit.key_hint.text()
    assert "X-Org-Key: …77c3" in edit.headers.toPlainText()  # the hint, never the value
    edit.timeout.setValue(12.5)
    submit(qtbot, page, edit)
    stored = by_name(api, "providers", name)
    assert stored["timeout_s"] == 12.5 and stored["api_key_hint"] == "…a1b2"
    assert stored["headers"] == {"X-Title": "…", "X-Org-Key": "…77c3"}  # the values were kept


def test_add_an_anthropic_provider_with_its_default_url(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, ProvidersPage, ctx))
    dialog = page.make_add_dialog()
    assert dialog.type.findText("anthropic") >= 0  # every built-in type is offered
    dialog.type.setCurrentText("anthropic")
    assert dialog.base_url.placeholderText() == "https://api.anthropic.com/v1"
    name = unique("claude")
    add_provider(qtbot, page, name, type="anthropic", api_key="sk-ant-test-0123456789c3d4")
    stored = by_name(api, "providers", name)
    assert (stored["type"], stored["base_url"]) == ("anthropic", "https://api.anthropic.com/v1")
    assert stored["api_key_hint"] == "…c3d4"
    api.remove("providers", stored["id"])  # other tests expect the seeded providers first


def test_header_lines_are_checked() -> None:
    assert parse_headers("A: 1\n  \nB:two:three") == {"A": "1", "B": "two:three"}
    with pytest.raises(ValueError, match="line 2"):
        parse_headers("A: 1\nnot a header")


def test_duplicate_provider_name_shows_the_servers_error(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, ProvidersPage, ctx))
    dialog = page.make_add_dialog()
    dialog.name.setText("echo")
    dialog.type.setCurrentText("echo")
    message = fails(qtbot, dialog)
    assert message == "a provider named 'echo' already exists"
    assert ctx.banner.label.text() == message and not ctx.banner.isHidden()
    assert dialog.message.text() == message and dialog.buttons.isEnabled()
    assert dialog.result() != QDialog.DialogCode.Accepted  # stays open to be corrected


def test_test_connection_shows_ok_and_latency(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, ProvidersPage, ctx))
    select(page, "echo")
    with qtbot.waitSignal(page.tested, timeout=WAIT) as blocker:
        page.test.click()
    assert blocker.args[0]["ok"] is True
    text = ctx.banner.label.text()
    assert text.startswith("echo: connection ok in ") and " ms; 1 model(s): echo" in text
    assert "#e9f6ec" in ctx.banner.styleSheet()  # the "ok" colours


def test_enable_disable_and_delete(qtbot, ctx, api, yes) -> None:
    page = loaded(qtbot, make(qtbot, ProvidersPage, ctx))
    name = unique("gone")
    add_provider(qtbot, page, name)
    select(page, name)
    loaded(qtbot, page, page.toggle.click)
    assert by_name(api, "providers", name)["enabled"] is False
    select(page, name)
    assert page.toggle.text() == "Enable"
    loaded(qtbot, page, page.toggle.click)
    assert by_name(api, "providers", name)["enabled"] is True
    select(page, name)
    loaded(qtbot, page, page.delete.click)
    assert name in yes[-1] and by_name(api, "providers", name) is None


def test_provider_in_use_cannot_be_deleted(qtbot, ctx, api, monkeypatch, yes) -> None:
    page = loaded(qtbot, make(qtbot, ProvidersPage, ctx))
    monkeypatch.setattr("gui.dialogs.confirm.confirm", lambda *a, **k: False)
    qtbot.waitUntil(lambda: ctx.tasks.busy == 0, timeout=WAIT)  # the page's own loads done
    page.delete_selected(row_named(page, "echo"))  # answered no: nothing is asked of the server
    assert ctx.tasks.busy == 0
    monkeypatch.setattr("gui.dialogs.confirm.confirm", lambda *a, **k: True)
    page.delete_selected(row_named(page, "echo"))
    qtbot.waitUntil(lambda: "is used by endpoint(s)" in ctx.banner.label.text(), timeout=WAIT)
    assert by_name(api, "providers", "echo") is not None


# --- endpoints ---------------------------------------------------------------------------------

def test_endpoints_page_shows_provider_names(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, EndpointsPage, ctx))
    chat = row_named(page, "chat")
    assert chat["provider"] == "echo" and chat["path"] == "/api/chat"
    assert [p["name"] for p in page.providers].count("echo") == 1


def set_target(dialog, row: int, key: str, value: object) -> None:
    """Edit a cell of the dialog's targets table as its editor would."""
    model = dialog.targets.model
    assert model.setData(model.index(row, model.column_index(key)), value,
                         Qt.ItemDataRole.EditRole), (row, key, value)


def echo_id(page) -> int:
    return next(p["id"] for p in page.providers if p["name"] == "echo")


def new_endpoint(page, name: str, *models: str):
    """The add dialog filled: a name, a path and one echo target per model."""
    dialog = page.make_add_dialog()
    dialog.name.setText(name)
    dialog.path.setText(f"/api/{name}")
    for i, model in enumerate(models):
        if i:
            dialog.targets.add_target()
        set_target(dialog, i, "provider", echo_id(page))
        set_target(dialog, i, "model", model)
    return dialog


def test_add_endpoint_offers_the_providers_models(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, EndpointsPage, ctx))
    dialog = page.make_add_dialog()
    assert isinstance(dialog, EndpointDialog)
    assert dialog.targets.model.rowCount() == 1  # a new endpoint starts with one target
    with qtbot.waitSignal(dialog.models_loaded, timeout=WAIT,
                          check_params_cb=lambda pid, _models: pid == echo_id(page)) as offered:
        set_target(dialog, 0, "provider", echo_id(page))
    assert offered.args[1] == ["echo"] and dialog.targets.models[echo_id(page)] == ["echo"]
    table = dialog.targets.table
    index = dialog.targets.model.index(0, dialog.targets.model.column_index("model"))
    editor = dialog.targets.model_delegate.createEditor(table.viewport(), None, index)
    assert editor.findText("echo") >= 0 and editor.isEditable()  # offered, and typed
    dialog.reject()


def test_bad_endpoint_path_is_explained(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, EndpointsPage, ctx))
    dialog = new_endpoint(page, unique("bad"), "m")
    dialog.path.setText("/v2/nope")
    assert fails(qtbot, dialog) == "path must start with /api/, got '/v2/nope'"
    assert "path must start with /api/" in ctx.banner.label.text()


def test_an_endpoint_with_two_targets_round_trips(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, EndpointsPage, ctx))
    name = unique("routed")
    dialog = new_endpoint(page, name, "echo-main", "echo-fallback")
    set_target(dialog, 0, "price_input_per_m", "0.15")
    set_target(dialog, 0, "price_output_per_m", "0.6")
    dialog.budget.setText("12.5")
    submit(qtbot, page, dialog)
    stored = by_name(api, "endpoints", name)
    assert [(t["model"], t["priority"]) for t in stored["targets"]] == [
        ("echo-main", 0), ("echo-fallback", 1)]
    assert stored["targets"][0]["price_input_per_m"] == 0.15
    assert stored["targets"][0]["price_output_per_m"] == 0.6
    assert stored["targets"][1]["price_input_per_m"] is None
    assert stored["monthly_budget"] == 12.5 and stored["model"] == "echo-main"
    i = rows(page).index(row_named(page, name))
    assert page.model.cell(i, "targets") == "echo: echo-main → echo: echo-fallback"
    assert page.model.cell(i, "monthly_budget") == "$12.50"

    edit = page.make_edit_dialog(row_named(page, name))  # the fallback first, then one
    assert edit.targets.model.rowCount() == 2 and edit.budget.text() == "12.5"
    edit.targets.select(1)
    edit.targets.up.click()
    submit(qtbot, page, edit)
    stored = by_name(api, "endpoints", name)
    assert [t["model"] for t in stored["targets"]] == ["echo-fallback", "echo-main"]
    assert stored["model"] == "echo-fallback"  # the endpoint's model is the first target's

    edit = page.make_edit_dialog(row_named(page, name))
    edit.targets.select(1)
    edit.targets.remove.click()
    assert not edit.targets.remove.isEnabled()  # the last target stays
    edit.budget.setText("")
    submit(qtbot, page, edit)
    stored = by_name(api, "endpoints", name)
    assert [t["model"] for t in stored["targets"]] == ["echo-fallback"]
    assert stored["monthly_budget"] is None


def test_a_target_the_server_refuses_is_marked(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, EndpointsPage, ctx))
    name = unique("heavy")
    dialog = new_endpoint(page, name, "echo-a", "echo-b")
    dialog.targets.model.rows[1]["weight"] = 5000  # past what the cell editor allows
    message = fails(qtbot, dialog)
    assert "weight" in message and dialog.message.text() == message
    assert dialog.targets.model.error[:2] == (1, "weight")
    assert by_name(api, "endpoints", name) is None  # nothing was made


def test_a_target_without_a_model_is_refused_before_asking(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, EndpointsPage, ctx))
    dialog = new_endpoint(page, unique("half"), "echo-a")
    dialog.targets.add_target()
    assert fails(qtbot, dialog) == "target 2: name the upstream model"
    assert dialog.targets.model.error[:2] == (1, "model")


def test_endpoints_and_providers_show_their_targets_health(qtbot, ctx) -> None:
    endpoints = loaded(qtbot, make(qtbot, EndpointsPage, ctx))
    chat = row_named(endpoints, "chat")
    i = rows(endpoints).index(chat)
    assert endpoints.model.cell(i, "targets") == "echo: echo-1"
    assert endpoints.model.cell(i, "targets", Qt.ItemDataRole.ToolTipRole) == (
        f"1. echo: echo-1 (priority 0, weight 1) — {health_text(chat['targets'][0]['health'])}")
    providers = loaded(qtbot, make(qtbot, ProvidersPage, ctx))
    echo = row_named(providers, "echo")
    assert {"chat", "embed"} <= {t["endpoint"] for t in echo["targets_health"]}
    j = rows(providers).index(echo)
    assert providers.model.cell(j, "targets_health").endswith(" healthy")


# --- tokens ------------------------------------------------------------------------------------

def issue_token(qtbot, page, name: str, **fields):
    """Fill the issue dialog, submit, wait for the new-token dialog and the reload."""
    dialog = page.make_add_dialog()
    dialog.name.setText(name)
    for scope, box in dialog.scopes.items():
        box.setChecked(scope in fields.get("scopes", ["all"]))
    dialog.rpm.setValue(fields.get("rpm", 0))
    dialog.monthly_requests.setValue(fields.get("monthly_requests", 0))
    dialog.budget.setText(fields.get("budget", ""))
    dialog.allowed_ips.setPlainText(fields.get("allowed_ips", ""))
    for i in range(dialog.endpoints.count()):  # endpoints: names to allow (default: all)
        item = dialog.endpoints.item(i)
        if item.text().split("  (")[0] in fields.get("endpoints", ()):
            item.setCheckState(Qt.CheckState.Checked)
    shown: list = []
    page.issued.connect(shown.append)
    with qtbot.waitSignals([page.issued, page.loaded], timeout=WAIT):
        dialog.submit()
    page.issued.disconnect(shown.append)
    return shown[0]


def seed_traffic_counted(api) -> None:
    """The server writes the request log in batches: wait for the seed traffic to land."""
    deadline = time.monotonic() + 10
    while (by_name(api, "tokens", "laptop")["usage_month"]["requests"] < 12
           and time.monotonic() < deadline):
        time.sleep(0.05)


def test_tokens_page_shows_usage_against_quota(qtbot, ctx, api) -> None:
    seed_traffic_counted(api)
    page = loaded(qtbot, make(qtbot, TokensPage, ctx, show=True))
    laptop = row_named(page, "laptop")
    i = rows(page).index(laptop)
    usage = page.model.data(page.model.index(i, page.model.column_index("requests_month")))
    used = laptop["usage_month"]["requests"]
    assert used >= 12 and usage == f"{used:,} / 1,000"
    column = page.model.column_index("requests_month")
    assert page.table.itemDelegateForColumn(column) is page.bars
    page.table.viewport().grab()  # the bar delegate paints without error


def test_issued_token_is_shown_once_and_works(qtbot, ctx, api, gui_server) -> None:
    page = loaded(qtbot, make(qtbot, TokensPage, ctx))
    name = unique("tok")
    shown = issue_token(qtbot, page, name, scopes=["chat", "models"], rpm=100,
                        monthly_requests=500, allowed_ips="127.0.0.1\n::1")
    plaintext = shown.token.text()
    assert plaintext.startswith("mpx_") and shown.token.isReadOnly()
    assert "you will not see it again" in " ".join(
        label.text() for label in shown.findChildren(type(shown.copied)))
    shown.copy.click()
    assert QGuiApplication.clipboard().text() == plaintext

    answer = requests.post(f"{gui_server.url}/api/chat", timeout=10,
                           headers={"Authorization": f"Bearer {plaintext}"},
                           json={"messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200, answer.text

    stored = by_name(api, "tokens", name)
    assert stored["scopes"] == ["chat", "models"] and stored["rpm"] == 100
    assert stored["monthly_requests"] == 500 and stored["allowed_ips"] == ["127.0.0.1/32",
                                                                          "::1/128"]
    assert name in [r["name"] for r in rows(page)]
    assert not any(plaintext in text for text in cell_texts(page))
    assert all("token" not in r for r in rows(page))
    shown.close()
    assert page.new_token_dialog is None


def test_change_token_limits_and_expiry(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, TokensPage, ctx))
    name = unique("edit")
    issue_token(qtbot, page, name, rpm=5).close()
    dialog = page.make_edit_dialog(row_named(page, name))
    assert dialog.rpm.value() == 5 and dialog.scopes["all"].isChecked()
    dialog.rpm.setValue(0)  # unlimited
    dialog.expires.setChecked(True)
    dialog.expires_at.setDateTime(QDateTime(QDate(2030, 1, 2), QTime(3, 4), QTimeZone.UTC))
    dialog.endpoints.item(0).setCheckState(Qt.CheckState.Checked)
    submit(qtbot, page, dialog)
    stored = by_name(api, "tokens", name)
    assert stored["rpm"] is None and stored["expires_at"] == "2030-01-02T03:04:00Z"
    assert stored["allowed_endpoints"] == [page.endpoints[0]["id"]]


def test_revoke_token_after_confirmation(qtbot, ctx, api, yes) -> None:
    page = loaded(qtbot, make(qtbot, TokensPage, ctx))
    name = unique("revoke")
    issue_token(qtbot, page, name).close()
    select(page, name)
    loaded(qtbot, page, page.revoke.click)
    assert name in yes[-1] and "cannot be undone" in yes[-1]
    assert by_name(api, "tokens", name)["revoked"] is True
    assert row_named(page, name)["revoked"] is True
    i = rows(page).index(row_named(page, name))
    assert page.model.data(page.model.index(i, page.model.column_index("status"))) == "revoked"


def test_a_tokens_monthly_budget_round_trips(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, TokensPage, ctx))
    name = unique("budget")
    issue_token(qtbot, page, name, budget="5").close()
    assert by_name(api, "tokens", name)["monthly_budget"] == 5.0
    i = rows(page).index(row_named(page, name))
    assert page.model.cell(i, "monthly_budget") == "$5.00"
    assert page.model.cell(i, "spent_this_month") == "—"  # nothing spent yet
    edit = page.make_edit_dialog(row_named(page, name))
    assert edit.budget.text() == "5"
    edit.budget.setText("")
    submit(qtbot, page, edit)
    assert by_name(api, "tokens", name)["monthly_budget"] is None


def test_token_without_scopes_is_refused_locally(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, TokensPage, ctx))
    dialog = page.make_add_dialog()
    dialog.name.setText(unique("none"))
    for box in dialog.scopes.values():
        box.setChecked(False)
    assert fails(qtbot, dialog) == "tick at least one scope"


# --- admins and settings -------------------------------------------------------------------------

def test_add_change_and_delete_an_admin(qtbot, ctx, api, yes) -> None:
    page = loaded(qtbot, make(qtbot, AdminsPage, ctx))
    assert {"admin", "viewer"} <= {r["username"] for r in rows(page)}
    username = unique("ops")
    dialog = page.make_add_dialog()
    dialog.username.setText(username)
    dialog.password.setText("long-enough-password")
    dialog.repeat.setText("long-enough-password")
    dialog.role.setCurrentText("viewer")
    submit(qtbot, page, dialog)
    stored = next(a for a in api.items("admins") if a["username"] == username)
    assert stored["role"] == "viewer"

    change = page.make_edit_dialog(row_named(page, username, "username"))
    assert change.username.isReadOnly()
    change.role.setCurrentText("admin")
    assert change.payload() == {"role": "admin"}  # an empty password is kept
    submit(qtbot, page, change)
    assert row_named(page, username, "username")["role"] == "admin"

    select(page, username, "username")
    loaded(qtbot, page, page.delete.click)
    assert username in yes[-1]
    assert username not in [a["username"] for a in api.items("admins")]


def test_short_password_and_last_admin_errors_are_shown(qtbot, ctx, api, yes) -> None:
    page = loaded(qtbot, make(qtbot, AdminsPage, ctx))
    dialog = page.make_add_dialog()
    dialog.username.setText(unique("short"))
    dialog.password.setText("short")
    dialog.repeat.setText("short")
    assert fails(qtbot, dialog) == "password must be at least 8 characters"
    assert [a["username"] for a in api.items("admins") if a["role"] == "admin"] == ["admin"]
    page.delete_selected(row_named(page, "admin", "username"))
    qtbot.waitUntil(lambda: ctx.banner.label.text()
                    == "cannot remove or demote the last admin", timeout=WAIT)


def test_settings_page_says_which_data_directory_the_server_uses(qtbot, ctx, gui_server) -> None:
    page = loaded(qtbot, make(qtbot, SettingsPage, ctx))
    expected = f"Data directory: {gui_server.data_dir.resolve()} — database sqlite:///"
    qtbot.waitUntil(lambda: page.data_dir.text().startswith(expected), timeout=WAIT)


def test_settings_edit_round_trip(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, SettingsPage, ctx))
    row = row_named(page, "log_retention_days")
    assert {"value", "default", "source", "description"} <= set(row)
    dialog = page.make_edit_dialog(row)
    dialog.set_value(45)
    assert dialog.payload() == {"log_retention_days": 45}
    submit(qtbot, page, dialog)
    stored = next(s for s in api.items("settings") if s["name"] == "log_retention_days")
    assert stored["value"] == 45 and stored["source"] == "admin"
    assert row_named(page, "log_retention_days")["value"] == 45

    reset = page.make_edit_dialog(row_named(page, "log_retention_days"))
    reset.reset.setChecked(True)
    submit(qtbot, page, reset)
    stored = next(s for s in api.items("settings") if s["name"] == "log_retention_days")
    assert stored["source"] == "default" and stored["value"] == stored["default"]

    origins = page.make_edit_dialog(row_named(page, "cors_origins"))
    origins.set_value(["https://app.example.com", "nonsense"])
    assert "cors_origins" in fails(qtbot, origins)


# --- audit -------------------------------------------------------------------------------------

def test_audit_lists_changes_newest_first_and_loads_more(qtbot, ctx, api, monkeypatch) -> None:
    api.create("providers", {"name": unique("audited"), "type": "echo"})
    page = loaded(qtbot, make(qtbot, AuditPage, ctx))
    times = [r["time"] for r in rows(page)]
    assert times == sorted(times, reverse=True)
    assert rows(page)[0]["action"] == "provider.create"
    page.search.setText("provider.create")
    assert 1 <= page.table.proxy.rowCount() < len(rows(page))

    monkeypatch.setattr("gui.pages.audit.PAGE_SIZE", 2)
    loaded(qtbot, page)
    assert len(rows(page)) == 2 and page.more.isEnabled()
    loaded(qtbot, page, page.more.click)
    ids = [r["id"] for r in rows(page)]
    assert len(ids) == 4 and ids == sorted(ids, reverse=True)


# --- viewers and keyboard ----------------------------------------------------------------------

def test_viewer_reads_but_cannot_write(qtbot, viewer_ctx, ctx) -> None:
    viewer_pages, admin_pages = build_pages(viewer_ctx), build_pages(ctx)
    for page in viewer_pages + admin_pages:
        qtbot.addWidget(page)
    titles = [p.title for p in viewer_pages]
    assert "Admins" not in titles and "Settings" not in titles
    assert {"Providers", "Endpoints", "Tokens", "Audit"} <= set(titles)
    assert {"Admins", "Settings"} <= {p.title for p in admin_pages}
    providers = loaded(qtbot, make(qtbot, ProvidersPage, viewer_ctx))
    select(providers, "echo")
    assert not any(b.isEnabled() for b in (providers.add, providers.edit, providers.test,
                                           providers.toggle, providers.delete))
    tokens = loaded(qtbot, make(qtbot, TokensPage, viewer_ctx))
    assert not tokens.add.isEnabled() and not tokens.revoke.isEnabled()
    endpoints = loaded(qtbot, make(qtbot, EndpointsPage, viewer_ctx))
    assert not endpoints.add.isEnabled() and not endpoints.delete.isEnabled()
    audit = loaded(qtbot, make(qtbot, AuditPage, viewer_ctx))
    assert rows(audit)
    providers.new_item()
    providers.open_selected()
    assert not providers.findChildren(ProviderDialog)


def test_ctrl_n_and_enter_open_dialogs(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, ProvidersPage, ctx, show=True))
    page.new_item()  # what the window's Ctrl+N calls
    added = page.findChildren(ProviderDialog)
    assert len(added) == 1 and added[0].isVisible() and added[0].row is None
    added[0].reject()
    select(page, "echo")
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    edits = [d for d in page.findChildren(ProviderDialog) if d.row]
    assert len(edits) == 1 and edits[0].name.text() == "echo"
    edits[0].reject()


def test_endpoint_aliases_are_typed_comma_separated(qtbot, ctx, api) -> None:
    page = loaded(qtbot, make(qtbot, EndpointsPage, ctx))
    name = unique("coder")
    alias = unique("claude-sonnet-4-5")
    dialog = new_endpoint(page, name, "echo")
    dialog.aliases.setText(f" {alias}, openai/{alias}:free ,, ")
    submit(qtbot, page, dialog)
    assert by_name(api, "endpoints", name)["aliases"] == [alias, f"openai/{alias}:free"]
    assert page.model.cell(page.model.rows.index(row_named(page, name)), "aliases") == (
        f"{alias}, openai/{alias}:free")
    edit = page.make_edit_dialog(row_named(page, name))
    assert edit.aliases.text() == f"{alias}, openai/{alias}:free"
    clash = new_endpoint(page, unique("again"), "m")
    clash.aliases.setText(alias)
    assert fails(qtbot, clash) == (
        f"the alias {alias!r} is already an alias of the endpoint {name!r}")


def test_pages_whose_data_moves_with_traffic_reload_when_shown_again(qtbot, ctx) -> None:
    """Walk: back on Endpoints after traffic, a cooling target still read "healthy" and
    the month's spend "—" until F5. Pages of settled things keep what they showed."""
    from gui.window import MainWindow

    endpoints, admins = EndpointsPage(ctx), AdminsPage(ctx)
    window = MainWindow(ctx, pages=[endpoints, admins])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    ctx.tasks.wait()
    with qtbot.waitSignal(admins.loaded, timeout=WAIT):
        window.sidebar.setCurrentRow(1)
    with qtbot.waitSignal(endpoints.loaded, timeout=WAIT):
        window.sidebar.setCurrentRow(0)  # shown again: fetched again
    with qtbot.assertNotEmitted(admins.loaded, wait=300):
        window.sidebar.setCurrentRow(1)
    assert {EndpointsPage.refresh_on_return, ProvidersPage.refresh_on_return,
            TokensPage.refresh_on_return} == {True}
    ctx.tasks.wait()
