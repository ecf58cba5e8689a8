"""Adding and editing a provider. The API key is write-only: the field starts empty, and
on edit an empty field keeps the stored key (the dialog shows its hint, "key set …a1b2")."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from app.services import provider_types
from gui.dialogs.form import FormDialog, InvalidInput
from gui.pages.base import Context

TYPES = tuple(provider_types.BUILTIN)  # the built-in types; a plug-in's is added when shown
DEFAULT_URLS = {  # the base URL field's placeholder: the type's default, or what to enter
    name: url or ("(none needed)" if url == "" else "http://gpu-box:8000/v1 (required)")
    for name, url in provider_types.BUILTIN.items()}
DEFAULT_TIMEOUT_S = 60.0


def parse_headers(text: str) -> dict[str, str]:
    """"NAME: VALUE" lines (blank lines skipped) as a dict."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise InvalidInput(f"extra headers, line {number}: write NAME: VALUE")
        headers[name.strip()] = value.strip()
    return headers


def headers_text(headers: dict[str, str] | None) -> str:
    return "\n".join(f"{name}: {value}" for name, value in (headers or {}).items())


class ProviderDialog(FormDialog):
    """Add (row None) or edit (row given) a provider."""

    def __init__(self, ctx: Context, row: dict[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(ctx, "Edit provider" if row else "Add provider", parent)
        self.row = row
        self.name = QLineEdit(placeholderText="e.g. openai-team")
        self.type = QComboBox()
        self.type.addItems(TYPES)
        self.base_url = QLineEdit()
        self.api_key = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.key_hint = QLabel()
        self.key_hint.setStyleSheet("color: palette(dark);")
        self.clear_key = QCheckBox("Remove the stored key")
        self.timeout = QDoubleSpinBox(minimum=0.5, maximum=3600.0, decimals=1, suffix=" s",
                                      value=DEFAULT_TIMEOUT_S)
        self.headers = QPlainTextEdit(placeholderText="X-Title: ModelProxy\nHTTP-Referer: …")
        self.headers.setFixedHeight(72)
        self.headers.setToolTip("Stored values are shown as hints (…a1b2): a line left as "
                                "shown keeps its value; a line removed removes the header.")
        self.enabled = QCheckBox("Enabled", checked=True)
        self.type.currentTextChanged.connect(self._type_changed)
        self._layout_fields()
        self._fill(row)

    def _layout_fields(self) -> None:
        self.form.addRow("Name", self.name)
        self.form.addRow("Type", self.type)
        self.form.addRow("Base URL", self.base_url)
        self.form.addRow("API key", self.api_key)
        self.form.addRow("", self.key_hint)
        self.form.addRow("", self.clear_key)
        self.form.addRow("Timeout", self.timeout)
        self.form.addRow("Extra headers", self.headers)
        self.form.addRow("", self.enabled)

    def _fill(self, row: dict[str, Any] | None) -> None:
        row = row or {}
        self.name.setText(row.get("name", ""))
        type_name = row.get("type") or "openai"
        if self.type.findText(type_name) < 0:
            # A plug-in's type (a third-party adapter): offered as it is, or saving the
            # dialog would silently turn the provider into the first built-in type.
            self.type.addItem(type_name)
        self.type.setCurrentText(type_name)
        self._type_changed(self.type.currentText())
        self.base_url.setText(row.get("base_url") or "")
        self.timeout.setValue(float(row.get("timeout_s") or DEFAULT_TIMEOUT_S))
        self.headers.setPlainText(headers_text(row.get("headers")))
        self.enabled.setChecked(bool(row.get("enabled", True)))
        if row.get("api_key_set"):
            self.key_hint.setText(f"key set {row.get('api_key_hint') or ''} — leave the field "
                                  "empty to keep it")
            self.api_key.setPlaceholderText("(unchanged)")
        else:
            self.key_hint.setText("no key stored")
            self.clear_key.hide()
        self.name.setFocus()

    def _type_changed(self, type_name: str) -> None:
        self.base_url.setPlaceholderText(DEFAULT_URLS.get(type_name, ""))

    def payload(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "name": self.name.text().strip(), "type": self.type.currentText(),
            "base_url": self.base_url.text().strip(), "timeout_s": self.timeout.value(),
            "headers": parse_headers(self.headers.toPlainText()),
            "enabled": self.enabled.isChecked()}
        key = self.api_key.text().strip()
        if key:
            fields["api_key"] = key
        elif self.row and self.clear_key.isChecked():
            fields["api_key"] = ""
        return fields

    def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        api = self.ctx.api
        if self.row:
            return api.update("providers", self.row["id"], payload)
        return api.create("providers", payload)
