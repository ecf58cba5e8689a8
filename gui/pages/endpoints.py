"""Endpoints: what clients call. Add, edit, enable/disable, delete."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QWidget

from gui.dialogs.endpoint import EndpointDialog
from gui.models.resources import EndpointsModel
from gui.pages.base import Context, TablePage

Rows = list[dict[str, Any]]

def with_provider_names(endpoints: Rows, providers: Rows) -> Rows:
    """Endpoint rows with `provider` (the first target's provider's name) added, and each
    target's where the server left it out."""
    names = {p["id"]: p["name"] for p in providers}

    def named(target: dict[str, Any]) -> dict[str, Any]:
        return {**target, "provider": target.get("provider") or names.get(
            target.get("provider_id"))}

    return [{**e, "provider": names.get(e.get("provider_id")),
             **({"targets": [named(t) for t in e["targets"]]} if "targets" in e else {})}
            for e in endpoints]


class EndpointsPage(TablePage):
    title = "Endpoints"
    refresh_on_return = True  # health and spend move with traffic
    resource = "endpoints"
    noun = "Endpoint"

    def delete_question(self, row: dict[str, Any]) -> str:
        return f"Delete endpoint {row['name']} ({row['path']})? Clients calling it will get 404."

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, EndpointsModel(), parent)
        self.providers: Rows = []
        self.add = self.add_button("Add…", self.new_item)
        self.edit = self.add_button("Edit…", self.open_selected, needs_selection=True)
        self.toggle = self.add_button("Disable", self.toggle_enabled, needs_selection=True)
        self.delete = self.add_button("Delete…", self.delete_selected, needs_selection=True)
        self.table.selectionModel().selectionChanged.connect(self._label_toggle)

    def refresh(self) -> None:
        api = self.ctx.api
        self.ctx.run(lambda: (api.items("endpoints"), api.items("providers")), self._show_both)

    def _show_both(self, answer: tuple[Rows, Rows]) -> None:
        endpoints, self.providers = answer
        self._show(with_provider_names(endpoints, self.providers))

    def _label_toggle(self, *_args: Any) -> None:
        row = self.table.selected_row()
        self.toggle.setText("Disable" if row is None or row.get("enabled", True) else "Enable")

    # --- dialogs -----------------------------------------------------------------------------

    def make_add_dialog(self) -> EndpointDialog:
        dialog = EndpointDialog(self.ctx, self.providers, None, self)
        dialog.saved.connect(lambda row: self.changed(f"Endpoint {row['name']} added"))
        return dialog

    def make_edit_dialog(self, row: dict[str, Any]) -> EndpointDialog:
        dialog = EndpointDialog(self.ctx, self.providers, row, self)
        dialog.saved.connect(lambda row: self.changed(f"Endpoint {row['name']} saved"))
        return dialog
