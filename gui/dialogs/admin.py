"""Dialogs for the admin role: adding or changing an admin, and changing one setting."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from gui.dialogs.form import FormDialog, InvalidInput
from gui.pages.base import Context

ROLES = ("admin", "viewer")


class AdminDialog(FormDialog):
    """Add an admin (row None), or change one's role and, optionally, password."""

    def __init__(self, ctx: Context, row: dict[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(ctx, f"Change {row['username']}" if row else "Add admin", parent)
        self.row = row
        self.username = QLineEdit((row or {}).get("username", ""))
        self.username.setReadOnly(row is not None)
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.repeat = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        if row:
            self.password.setPlaceholderText("leave empty to keep the password")
        self.role = QComboBox()
        self.role.addItems(ROLES)
        self.role.setCurrentText((row or {}).get("role", "viewer"))
        self.role.setToolTip("admin: everything; viewer: reads only")
        self.form.addRow("Username", self.username)
        self.form.addRow("Password", self.password)
        self.form.addRow("Repeat password", self.repeat)
        self.form.addRow("Role", self.role)

    def payload(self) -> dict[str, Any]:
        password = self.password.text()
        if password != self.repeat.text():
            raise InvalidInput("the passwords differ")
        if self.row:
            fields: dict[str, Any] = {"role": self.role.currentText()}
            if password:
                fields["password"] = password
            return fields
        return {"username": self.username.text().strip(), "password": password,
                "role": self.role.currentText()}

    def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.row:
            return self.ctx.api.update("admins", self.row["id"], payload)
        return self.ctx.api.create("admins", payload)


class SettingDialog(FormDialog):
    """Change one setting (or put it back to its default); saves with PATCH /settings.

    Whole-number settings get a spin box; list settings one entry a line; anything else
    is edited as JSON."""

    def __init__(self, ctx: Context, row: dict[str, Any],
                 parent: QWidget | None = None) -> None:
        super().__init__(ctx, f"Change {row['name']}", parent)
        self.row = row
        about = QLabel(row.get("description", ""))
        about.setWordWrap(True)
        self.form.addRow(about)
        self.form.addRow("Default", QLabel(json.dumps(row.get("default"))))
        self.value = self._editor(row.get("value"))
        self.form.addRow("Value", self.value)
        self.reset = QCheckBox("Use the default")
        self.reset.setChecked(row.get("source") == "default")
        self.reset.toggled.connect(lambda on: self.value.setEnabled(not on))
        self.value.setEnabled(not self.reset.isChecked())
        self.form.addRow("", self.reset)

    @staticmethod
    def _editor(value: Any) -> QWidget:
        if isinstance(value, int) and not isinstance(value, bool):
            box = QSpinBox(minimum=0, maximum=2_000_000_000, value=value)
            box.setGroupSeparatorShown(True)
            return box
        if isinstance(value, list):
            text = QPlainTextEdit("\n".join(str(v) for v in value))
            text.setPlaceholderText("one entry a line")
            text.setFixedHeight(96)
            return text
        return QLineEdit(json.dumps(value))

    def set_value(self, value: Any) -> None:
        """Put `value` in the editor (and stop using the default)."""
        self.reset.setChecked(False)
        if isinstance(self.value, QSpinBox):
            self.value.setValue(int(value))
        elif isinstance(self.value, QPlainTextEdit):
            self.value.setPlainText("\n".join(value))
        else:
            self.value.setText(json.dumps(value))

    def edited_value(self) -> Any:
        if isinstance(self.value, QSpinBox):
            return self.value.value()
        if isinstance(self.value, QPlainTextEdit):
            return [line.strip() for line in self.value.toPlainText().splitlines()
                    if line.strip()]
        try:
            return json.loads(self.value.text())
        except ValueError:
            raise InvalidInput("the value must be JSON, e.g. 42 or \"text\"") from None

    def payload(self) -> dict[str, Any]:
        return {self.row["name"]: None if self.reset.isChecked() else self.edited_value()}

    def call(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return self.ctx.api.patch("/settings", payload)["items"]
