"""FormDialog, the base of every add/edit dialog."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from gui.api import APIError
from gui.pages.base import Context


class InvalidInput(ValueError):
    """A field the dialog can reject before asking the server; `param` names it as the
    server would."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class FormDialog(QDialog):
    """A form with OK/Cancel. `submit()` builds `payload()`, runs `call(payload)` off the
    GUI thread, emits `saved(result)` and closes; failures stay in the dialog (and go to
    the window's banner) so the entry can be corrected."""

    saved = Signal(object)
    failed = Signal(object)

    def __init__(self, ctx: Context, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle(title)
        self.setMinimumWidth(480)
        self.form = QFormLayout()
        self.form.setVerticalSpacing(8)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #8a1c12;")
        self.message.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        self._buttons_last = False
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addLayout(self.form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def showEvent(self, event: QShowEvent) -> None:
        """The buttons were made before the subclass's fields, so they came first in the
        tab order and took the focus: what was typed after opening went nowhere."""
        if not self._buttons_last:  # re-parented, they join the end of the tab order
            self._buttons_last = True  # (setTabOrder cannot move them past the last field)
            layout = self.layout()
            layout.removeWidget(self.buttons)
            self.buttons.setParent(None)
            self.buttons.setParent(self)
            layout.addWidget(self.buttons)
            self.buttons.show()  # re-parenting hid them
        super().showEvent(event)
        focused = self.focusWidget()
        if focused is None or self.buttons.isAncestorOf(focused):
            usable = [f for f in self.fields() if f.isEnabled() and f.isVisibleTo(self)]
            if usable:
                usable[0].setFocus(Qt.FocusReason.TabFocusReason)

    def fields(self) -> list[QWidget]:
        """The widgets that take the focus by Tab, in tab order, the buttons left out."""
        found: list[QWidget] = []
        widget = self.nextInFocusChain()
        while widget is not self and widget not in found:
            takes_tab = bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus)
            if takes_tab and not self.buttons.isAncestorOf(widget):
                found.append(widget)
            widget = widget.nextInFocusChain()
        return found

    def payload(self) -> dict[str, Any]:
        """The JSON body the fields make (InvalidInput for a field that cannot be sent)."""
        raise NotImplementedError

    def call(self, payload: dict[str, Any]) -> Any:
        """The API call (runs off the GUI thread)."""
        raise NotImplementedError

    def submit(self) -> None:
        try:
            payload = self.payload()
        except InvalidInput as exc:
            self.fail(APIError(400, str(exc), param=exc.param))
            return
        self.buttons.setEnabled(False)
        self.ctx.run(lambda: self.call(payload), self._done, self.fail)

    def fail(self, error: APIError) -> None:
        self.buttons.setEnabled(True)
        self.message.setText(error.message)
        self.message.show()
        self.point_at(getattr(error, "param", None), error.message)
        self.ctx.banner.show_error(error)
        self.failed.emit(error)

    def point_at(self, param: str | None, message: str) -> None:
        """Show which field an error names (dialogs with tables mark the cell)."""

    def _done(self, result: Any) -> None:
        self.buttons.setEnabled(True)
        self.saved.emit(result)
        self.accept()
