"""Providers: the upstream accounts. Add, edit, test the connection, enable/disable, delete."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from gui.dialogs.provider import ProviderDialog
from gui.models.resources import ProvidersModel
from gui.pages.base import Context, TablePage


def connection_text(name: str, answer: dict[str, Any]) -> tuple[str, str]:
    """The banner text and kind for a connection test's answer."""
    latency = f"{answer.get('latency_ms', 0):g} ms"
    if answer.get("ok"):
        models = answer.get("models") or []
        listed = ", ".join(models[:5]) + (" …" if len(models) > 5 else "")
        return (f"{name}: connection ok in {latency}; {len(models)} model(s)"
                + (f": {listed}" if listed else ""), "ok")
    return f"{name}: connection failed after {latency}: {answer.get('error', 'error')}", "error"


class ProvidersPage(TablePage):
    title = "Providers"
    refresh_on_return = True  # its targets' health moves with traffic
    resource = "providers"
    noun = "Provider"

    def delete_question(self, row: dict[str, Any]) -> str:
        return f"Delete provider {row['name']}? Endpoints must no longer use it."
    tested = Signal(dict)  # a connection test's answer

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, ProvidersModel(), parent)
        self.add = self.add_button("Add…", self.new_item)
        self.edit = self.add_button("Edit…", self.open_selected, needs_selection=True)
        self.test = self.add_button("Test connection", self.test_connection,
                                    needs_selection=True)
        self.toggle = self.add_button("Disable", self.toggle_enabled,
                                      needs_selection=True)
        self.delete = self.add_button("Delete…", self.delete_selected, needs_selection=True)
        self.test.setToolTip("Ask the provider for its models, with its key")
        self.table.selectionModel().selectionChanged.connect(self._label_toggle)

    def _label_toggle(self, *_args: Any) -> None:
        row = self.table.selected_row()
        self.toggle.setText("Disable" if row is None or row.get("enabled", True) else "Enable")

    # --- dialogs -----------------------------------------------------------------------------

    def make_add_dialog(self) -> ProviderDialog:
        dialog = ProviderDialog(self.ctx, None, self)
        dialog.saved.connect(lambda row: self.changed(f"Provider {row['name']} added"))
        return dialog

    def make_edit_dialog(self, row: dict[str, Any]) -> ProviderDialog:
        dialog = ProviderDialog(self.ctx, row, self)
        dialog.saved.connect(lambda row: self.changed(f"Provider {row['name']} saved"))
        return dialog

    # --- actions -----------------------------------------------------------------------------

    def test_connection(self, row: dict[str, Any] | None = None) -> None:
        row = row or self.table.selected_row()
        if row is None:
            return
        api, name = self.ctx.api, row["name"]
        self.ctx.banner.show_message(f"Testing {name}…", "info")
        self.ctx.run(lambda: api.test_provider(row["id"]),
                     lambda answer: self._tested(name, answer))

    def _tested(self, name: str, answer: dict[str, Any]) -> None:
        self.ctx.banner.show_message(*connection_text(name, answer))
        self.tested.emit(answer)
