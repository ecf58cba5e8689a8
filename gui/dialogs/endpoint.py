"""Adding and editing an endpoint. The model field offers the chosen provider's models (from
its "test connection" answer) and still takes any name typed in."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QLocale, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QWidget

from gui.api import APIError
from gui.dialogs.form import FormDialog, InvalidInput
from gui.pages.base import Context

KINDS = ("chat", "embeddings")


def parse_price(text: str, label: str) -> float | None:
    """A price per million tokens; empty means none."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{label} must be a number, e.g. 0.15") from None
    if value < 0:
        raise InvalidInput(f"{label} cannot be negative")
    return value


def parse_aliases(text: str) -> list[str]:
    """Aliases typed comma-separated ("claude-sonnet-4-5, gpt-5"); the server checks each."""
    return [alias.strip() for alias in text.split(",") if alias.strip()]


def price_text(value: Any) -> str:
    return "" if value is None else f"{float(value):g}"


class EndpointDialog(FormDialog):
    """Add (row None) or edit (row given) an endpoint; `providers` are the provider rows."""

    models_loaded = Signal(list)

    def __init__(self, ctx: Context, providers: list[dict[str, Any]],
                 row: dict[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "Edit endpoint" if row else "Add endpoint", parent)
        self.row = row
        self.name = QLineEdit(placeholderText="e.g. chat-fast")
        self.path = QLineEdit(placeholderText="/api/chat-fast")
        self.kind = QComboBox()
        self.kind.addItems(KINDS)
        self.provider = QComboBox()
        for provider in providers:
            self.provider.addItem(provider["name"], provider["id"])
        self.model = QComboBox(editable=True)
        self.model.lineEdit().setPlaceholderText("the upstream model, e.g. gpt-4o-mini")
        self.price_input = self._price_field()
        self.price_output = self._price_field()
        # Short enough to be read whole in the field (the longer one was cut off on X).
        self.aliases = QLineEdit(placeholderText="e.g. claude-sonnet-4-5, gpt-5")
        self.aliases.setToolTip("Other model names, comma-separated, clients may also call "
                                "this endpoint by (a coding agent's built-in names), each "
                                "unique across all endpoints")
        self.enabled = QCheckBox("Enabled", checked=True)
        for label, field in (("Name", self.name), ("Path", self.path), ("Kind", self.kind),
                             ("Provider", self.provider), ("Model", self.model),
                             ("Aliases", self.aliases),
                             ("Input price ($ per M tokens)", self.price_input),
                             ("Output price ($ per M tokens)", self.price_output),
                             ("", self.enabled)):
            self.form.addRow(label, field)
        self._asked: int | None = None
        self._fill(row or {})
        self.provider.currentIndexChanged.connect(lambda _i: self.load_models())
        self.load_models()

    @staticmethod
    def _price_field() -> QLineEdit:
        field = QLineEdit(placeholderText="none")
        validator = QDoubleValidator(0.0, 1_000_000.0, 6)
        validator.setNotation(QDoubleValidator.Notation.StandardNotation)
        validator.setLocale(QLocale.c())  # a dot for decimals, whatever the desktop's locale
        field.setValidator(validator)
        return field

    def _fill(self, row: dict[str, Any]) -> None:
        self.name.setText(row.get("name", ""))
        self.path.setText(row.get("path", ""))
        self.kind.setCurrentText(row.get("kind", "chat"))
        if row.get("provider_id") is not None:
            self.provider.setCurrentIndex(max(0, self.provider.findData(row["provider_id"])))
        self.model.setEditText(row.get("model", ""))
        self.aliases.setText(", ".join(row.get("aliases") or []))
        self.price_input.setText(price_text(row.get("price_input_per_m")))
        self.price_output.setText(price_text(row.get("price_output_per_m")))
        self.enabled.setChecked(bool(row.get("enabled", True)))

    def load_models(self) -> None:
        """Ask the chosen provider for its models (a connection test) and offer them."""
        provider_id = self.provider.currentData()
        if provider_id is None:
            return
        api = self.ctx.api
        self._asked = provider_id
        self.model.setToolTip("Asking the provider for its models…")
        # Bound methods as callbacks: Qt drops them if the dialog is gone by then.
        self.ctx.run(lambda: api.test_provider(provider_id), self._offer, self._no_models)

    def _offer(self, answer: dict[str, Any]) -> None:
        if self._asked != self.provider.currentData():
            return  # the choice changed while we asked
        models = [m for m in answer.get("models") or [] if m] if answer.get("ok") else []
        typed = self.model.currentText()
        self.model.clear()
        self.model.addItems(models)
        self.model.setEditText(typed or (models[0] if models else ""))
        self.model.setToolTip(f"{len(models)} model(s) offered by the provider" if models else
                              f"The provider did not list models: {answer.get('error', '')}")
        self.models_loaded.emit(models)

    def _no_models(self, error: APIError) -> None:
        self.model.setToolTip(f"Could not list models: {error.message}")
        self.models_loaded.emit([])

    def payload(self) -> dict[str, Any]:
        if self.provider.currentData() is None:
            raise InvalidInput("add a provider first")
        return {"name": self.name.text().strip(), "path": self.path.text().strip(),
                "kind": self.kind.currentText(), "model": self.model.currentText().strip(),
                "provider_id": self.provider.currentData(),
                "aliases": parse_aliases(self.aliases.text()),
                "price_input_per_m": parse_price(self.price_input.text(), "input price"),
                "price_output_per_m": parse_price(self.price_output.text(), "output price"),
                "enabled": self.enabled.isChecked()}

    def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        api = self.ctx.api
        if self.row:
            return api.update("endpoints", self.row["id"], payload)
        return api.create("endpoints", payload)
