""""Use with…" against the live seeded server (real widgets, offscreen): from a new token's
dialog with its plaintext, from a row of the Tokens page with a placeholder."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication

from gui.connect_snippets import PLACEHOLDER
from gui.dialogs.use_with import UseWithDialog
from gui.pages.tokens import TokensPage
from tests.gui.test_pages_resources import by_name, issue_token, loaded, make, select, unique

TABS = ["Claude Code", "Codex", "OpenAI SDK", "Anthropic SDK"]


def every_text(dialog: UseWithDialog) -> str:
    return "\n".join(dialog.text_of(title) for title in TABS)


def test_from_a_new_token_the_settings_carry_its_plaintext(qtbot, ctx, gui_server) -> None:
    page = loaded(qtbot, make(qtbot, TokensPage, ctx))
    # Other tests add chat endpoints to the shared server: this token may use the seed's.
    shown = issue_token(qtbot, page, unique("agent"), scopes=["chat", "models"],
                        endpoints=["chat"])
    plaintext = shown.token.text()
    assert shown.use_with.isVisibleTo(shown)
    shown.use_with.click()
    dialog = shown.use_with_dialog
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == TABS
    claude = dialog.text_of("Claude Code")
    assert f"ANTHROPIC_BASE_URL={gui_server.url}\n" in claude
    assert f"ANTHROPIC_AUTH_TOKEN={plaintext}\n" in claude
    assert "ANTHROPIC_MODEL=chat\n" in claude  # the seed's one chat endpoint, not "embed"
    assert "embed" not in every_text(dialog)
    codex = dialog.text_of("Codex")
    assert f'base_url = "{gui_server.url}/v1"' in codex and 'model = "chat"' in codex
    assert f"export MODELPROXY_TOKEN={plaintext}" in codex
    assert PLACEHOLDER not in every_text(dialog)
    assert not dialog.model.isEnabled()  # one endpoint: nothing to choose

    dialog.tabs.setCurrentIndex(TABS.index("Codex"))
    dialog.copy_buttons["Codex"][0].click()
    assert QGuiApplication.clipboard().text() == dialog.texts["Codex"][0].toPlainText()
    assert "config.toml" in dialog.copied.text()
    shown.close()  # the plaintext goes with the dialog that showed it
    assert shown.use_with_dialog is None and plaintext not in every_text(dialog)


def test_from_a_row_the_secret_never_appears(qtbot, ctx, gui_server) -> None:
    page = loaded(qtbot, make(qtbot, TokensPage, ctx))
    assert not page.use_with.isEnabled()  # nothing selected yet
    select(page, "laptop")
    page.use_with.click()
    dialog = page.use_with_dialog
    text = every_text(dialog)
    assert gui_server.client_token not in text and "mpx_" not in text
    assert f"ANTHROPIC_AUTH_TOKEN='{PLACEHOLDER}'" in dialog.text_of("Claude Code")
    assert f'"ANTHROPIC_AUTH_TOKEN": "{PLACEHOLDER}"' in dialog.text_of("Claude Code")
    assert f'OpenAI(base_url="{gui_server.url}/v1"' in dialog.text_of("OpenAI SDK")
    assert f'Anthropic(base_url="{gui_server.url}"' in dialog.text_of("Anthropic SDK")
    assert "not shown again" in " ".join(label.text() for label in
                                         dialog.findChildren(type(dialog.copied)))
    dialog.copy_buttons["Claude Code"][1].click()
    assert QGuiApplication.clipboard().text() == dialog.texts["Claude Code"][1].toPlainText()
    dialog.close()


def test_the_row_menu_opens_it_and_viewers_may_use_it(qtbot, viewer_ctx) -> None:
    page = loaded(qtbot, make(qtbot, TokensPage, viewer_ctx))
    row = select(page, "laptop")
    assert page.use_with.isEnabled()  # reading settings changes nothing
    menu = page.row_menu(row)
    actions = {a.text(): a for a in menu.actions()}
    assert not actions["Edit…"].isEnabled() and not actions["Revoke…"].isEnabled()
    actions["Use with…"].trigger()
    assert page.use_with_dialog.windowTitle() == "Use token laptop with…"
    page.use_with_dialog.close()


def test_the_endpoint_choice_rewrites_every_block(qtbot, ctx, api, gui_server) -> None:
    """With an allow-list of several chat endpoints (and an alias), each is offered."""
    second = api.create("endpoints", {"name": unique("coder"), "path": f"/api/{unique('c')}",
                                      "kind": "chat", "model": "echo-2", "provider": "echo"})
    page = loaded(qtbot, make(qtbot, TokensPage, ctx))
    chat = by_name(api, "endpoints", "chat")
    row = dict(select(page, "laptop"), allowed_endpoints=[chat["id"], second["id"]])
    page.endpoints = [dict(e, aliases=["claude-sonnet-4-5"]) if e["id"] == second["id"] else e
                      for e in page.endpoints]
    dialog = page.use_with_selected(row)
    names = [dialog.model.itemText(i) for i in range(dialog.model.count())]
    assert sorted(names) == sorted(["chat", second["name"], "claude-sonnet-4-5"])
    assert names.index("claude-sonnet-4-5") == names.index(second["name"]) + 1
    dialog.model.setCurrentText("claude-sonnet-4-5")
    assert dialog.fast_model.currentText() == "claude-sonnet-4-5"  # follows until chosen
    assert 'model = "claude-sonnet-4-5"' in dialog.text_of("Codex")
    assert 'model="claude-sonnet-4-5"' in dialog.text_of("Anthropic SDK")
    dialog.fast_model.setCurrentText("chat")
    claude = dialog.text_of("Claude Code")
    assert "ANTHROPIC_MODEL=claude-sonnet-4-5\n" in claude
    assert "ANTHROPIC_DEFAULT_HAIKU_MODEL=chat\n" in claude
    dialog.close()
    api.remove("endpoints", second["id"])


def test_the_new_token_dialog_closes_after_use_with_was_closed_first(qtbot, ctx) -> None:
    """Closing "Use with…" deletes it; closing the token's dialog afterwards closed nothing
    (its done() reached for the deleted panel) and left it open with the token gone."""
    page = loaded(qtbot, make(qtbot, TokensPage, ctx))
    shown = issue_token(qtbot, page, unique("agent"), scopes=["chat"])
    shown.use_with.click()
    panel = shown.use_with_dialog
    with qtbot.waitSignal(panel.destroyed, timeout=5000):
        panel.close()
    assert shown.use_with_dialog is None
    shown.close()
    assert not shown.isVisible() and page.new_token_dialog is None
