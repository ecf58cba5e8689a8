"""Add dialogs opened as Ctrl+N opens them take what is typed straight away: on Xvfb the
OK button had the focus (the buttons were made before the fields), so a name typed after
Ctrl+N went nowhere and Tab walked OK, Cancel, then the fields."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from gui.dialogs.endpoint import EndpointDialog
from gui.dialogs.form import FormDialog
from gui.dialogs.token import TokenDialog
from gui.pages.endpoints import EndpointsPage
from gui.pages.tokens import TokensPage
from tests.gui.test_pages_resources import loaded, make


def opened(qtbot, page, kind: type[FormDialog]) -> FormDialog:
    page.new_item()  # what the window's Ctrl+N calls
    dialog = page.findChildren(kind)[-1]
    qtbot.waitExposed(dialog)
    return dialog


def test_the_endpoint_dialog_takes_typing_in_its_name_field(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, EndpointsPage, ctx, show=True))
    dialog = opened(qtbot, page, EndpointDialog)
    assert dialog.focusWidget() is dialog.name
    qtbot.keyClicks(dialog.focusWidget(), "claude")
    dialog.focusNextChild()
    assert dialog.focusWidget() is dialog.path
    assert dialog.name.text() == "claude"
    dialog.enabled.setFocus()  # the last field: Tab goes on to OK
    dialog.focusNextChild()
    assert dialog.focusWidget() is dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.reject()


def test_the_token_dialog_too(qtbot, ctx) -> None:
    page = loaded(qtbot, make(qtbot, TokensPage, ctx, show=True))
    dialog = opened(qtbot, page, TokenDialog)
    assert dialog.focusWidget() is dialog.name
    qtbot.keyClick(dialog.name, Qt.Key.Key_A)
    assert dialog.name.text() == "a"
    dialog.reject()


def test_an_endpoint_dialog_closed_before_the_models_answer_is_left_alone(qtbot, ctx) -> None:
    """Its answer used to reach the deleted dialog (RuntimeError in the event loop)."""
    page = loaded(qtbot, make(qtbot, EndpointsPage, ctx, show=True))
    dialog = opened(qtbot, page, EndpointDialog)
    with qtbot.waitSignal(dialog.destroyed, timeout=5000):
        dialog.reject()  # deleted on close (show_dialog), the provider not answered yet
    qtbot.waitUntil(lambda: ctx.tasks.busy == 0, timeout=10_000)  # answered, to nobody
