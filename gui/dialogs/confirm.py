"""The yes/no question pages ask before deleting or revoking.

Pages ask through `confirm` (looked up on this module at call time), so tests replace
it with `monkeypatch.setattr("gui.dialogs.confirm.confirm", lambda *a, **k: True)`.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm(parent: QWidget | None, text: str, title: str = "Please confirm") -> bool:
    """Ask a yes/no question (No is the default answer)."""
    answer = QMessageBox.question(parent, title, text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
