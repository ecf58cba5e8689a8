"""Adding and editing an endpoint: its name, path and kind, the targets it routes to (the
first is tried first; see gui/dialogs/targets.py) and its monthly budget."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QWidget

from gui.dialogs.fields import amount_text, budget_field, parse_amount
from gui.dialogs.form import FormDialog, InvalidInput
from gui.dialogs.targets import TargetsEditor
from gui.models.targets import SENT
from gui.pages.base import Context

KINDS = ("chat", "embeddings")


def parse_aliases(text: str) -> list[str]:
    """Aliases typed comma-separated ("claude-sonnet-4-5, gpt-5"); the server checks each."""
    return [alias.strip() for alias in text.split(",") if alias.strip()]


def row_targets(row: dict[str, Any]) -> list[dict[str, Any]]:
    """An endpoint's targets; a server from before routes gives one (its provider and
    model, its prices)."""
    if row.get("targets"):
        return row["targets"]
    if row.get("provider_id") is None:
        return []
    return [{"provider_id": row["provider_id"], "model": row.get("model", ""), "priority": 0,
             "weight": 1, "enabled": True,
             "price_input_per_m": row.get("price_input_per_m"),
             "price_cached_input_per_m": None,
             "price_output_per_m": row.get("price_output_per_m")}]


def as_sent(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Targets as the dialog sends them, in the order tried."""
    ordered = sorted(targets, key=lambda t: t.get("priority") or 0)
    return [{key: target.get(key) for key in SENT} for target in ordered]


class EndpointDialog(FormDialog):
    """Add (row None) or edit (row given) an endpoint; `providers` are the provider rows."""

    def __init__(self, ctx: Context, providers: list[dict[str, Any]],
                 row: dict[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "Edit endpoint" if row else "Add endpoint", parent)
        self.setMinimumWidth(820)
        self.row = row
        self.name = QLineEdit(placeholderText="e.g. chat-fast")
        self.path = QLineEdit(placeholderText="/api/chat-fast")
        self.kind = QComboBox()
        self.kind.addItems(KINDS)
        # Short enough to be read whole in the field (the longer one was cut off on X).
        self.aliases = QLineEdit(placeholderText="e.g. claude-sonnet-4-5, gpt-5")
        self.aliases.setToolTip("Other model names, comma-separated, clients may also call "
                                "this endpoint by (a coding agent's built-in names), each "
                                "unique across all endpoints")
        self.targets = TargetsEditor(ctx, providers)  # parented by the form, in tab order
        self.models_loaded = self.targets.models_loaded
        hint = QLabel("Tried in order; when one fails (a timeout, 429, 5xx) the next is "
                      "tried. Empty prices: the shipped price table's.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(dark);")
        self.budget = budget_field()
        self.enabled = QCheckBox("Enabled", checked=True)
        for label, field in (("Name", self.name), ("Path", self.path), ("Kind", self.kind),
                             ("Aliases", self.aliases), ("Targets", self.targets),
                             ("", hint), ("Monthly budget ($)", self.budget),
                             ("", self.enabled)):
            self.form.addRow(label, field)
        self._fill(row or {}, providers)

    def _fill(self, row: dict[str, Any], providers: list[dict[str, Any]]) -> None:
        self.name.setText(row.get("name", ""))
        self.path.setText(row.get("path", ""))
        self.kind.setCurrentText(row.get("kind", "chat"))
        self.aliases.setText(", ".join(row.get("aliases") or []))
        self.budget.setText(amount_text(row.get("monthly_budget")))
        self.enabled.setChecked(bool(row.get("enabled", True)))
        targets = row_targets(row)
        self.targets.set_targets(targets)
        if not targets and providers:
            self.targets.add_target()

    def point_at(self, param: str | None, message: str) -> None:
        if not self.targets.mark_error(param, message) and param == "monthly_budget":
            self.budget.setFocus()

    def payload(self) -> dict[str, Any]:
        if not self.targets.model.rowCount():
            raise InvalidInput("add a provider first" if not self.targets.providers
                               else "add a target", "targets")
        problems = self.targets.model.problems()
        if problems:
            row, key, message = problems[0]
            raise InvalidInput(message, f"targets[{row}].{key}")
        payload = {"name": self.name.text().strip(), "path": self.path.text().strip(),
                   "kind": self.kind.currentText(),
                   "aliases": parse_aliases(self.aliases.text()),
                   "targets": self.targets.model.targets(),
                   "monthly_budget": parse_amount(self.budget.text(), "the monthly budget",
                                                  "monthly_budget"),
                   "enabled": self.enabled.isChecked()}
        if self.row and payload["targets"] == as_sent(row_targets(self.row)):
            # Unchanged: not sent, as the list replaces the targets whole (new ids, and
            # the router's health of each started over).
            del payload["targets"]
        return payload

    def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        api = self.ctx.api
        if self.row:
            return api.update("endpoints", self.row["id"], payload)
        return api.create("endpoints", payload)
