"""Pages for the admin role only: Admins (who may manage the appliance) and Settings (the
options changed at run time)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from gui.dialogs.admin import AdminDialog, SettingDialog
from gui.models.resources import AdminsModel, SettingsModel
from gui.pages.base import Context, TablePage


class AdminsPage(TablePage):
    title = "Admins"
    resource = "admins"
    noun = "Admin"

    def label(self, row: dict[str, Any]) -> str:
        return row["username"]

    def delete_question(self, row: dict[str, Any]) -> str:
        return f"Delete admin {row['username']}? They can no longer log in."

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, AdminsModel(), parent)
        self.add = self.add_button("Add…", self.new_item)
        self.edit = self.add_button("Change…", self.open_selected, needs_selection=True)
        self.delete = self.add_button("Delete…", self.delete_selected, needs_selection=True)
        self.edit.setToolTip("Change the role or set a new password")

    def make_add_dialog(self) -> AdminDialog:
        dialog = AdminDialog(self.ctx, None, self)
        dialog.saved.connect(lambda row: self.changed(f"Admin {row['username']} added"))
        return dialog

    def make_edit_dialog(self, row: dict[str, Any]) -> AdminDialog:
        dialog = AdminDialog(self.ctx, row, self)
        dialog.saved.connect(lambda row: self.changed(
            f"Admin {row['username']} saved (role {row['role']})"))
        return dialog


class SettingsPage(TablePage):
    title = "Settings"
    resource = "settings"

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, SettingsModel(), parent)
        self.edit = self.add_button("Change…", self.open_selected, needs_selection=True)
        # Which appliance this is: a server started from another folder may use another.
        self.data_dir = QLabel(textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.layout().addWidget(self.data_dir)

    def refresh(self) -> None:
        super().refresh()
        self.ctx.run(self.ctx.api.health, self._show_data_dir,
                     lambda _error: self.data_dir.setText("Data directory: unknown"))

    def _show_data_dir(self, health: dict[str, Any]) -> None:
        self.data_dir.setText(f"Data directory: {health.get('data_dir', 'unknown')} — "
                              f"database {health.get('database_url', 'unknown')}")

    def make_edit_dialog(self, row: dict[str, Any]) -> SettingDialog:
        dialog = SettingDialog(self.ctx, row, self)
        dialog.saved.connect(lambda rows: self._saved(row["name"], rows))
        return dialog

    def _saved(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.ctx.banner.show_message(f"Setting {name} saved", "ok")
        self._show(rows)
