"""Issuing a token, and the one time its plaintext is shown."""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.dialogs.fields import amount_text, budget_field, parse_amount
from gui.dialogs.form import FormDialog, InvalidInput
from gui.dialogs.use_with import UseWithDialog, for_token
from gui.pages.base import Context, show_dialog

SCOPES = ("chat", "embeddings", "models", "all")
MAX_LIMIT = 2_000_000_000


def limit_box(suffix: str = "") -> QSpinBox:
    """A whole number >= 1; the lowest setting, shown as "unlimited", means no limit."""
    box = QSpinBox(minimum=0, maximum=MAX_LIMIT, suffix=suffix)
    box.setSpecialValueText("unlimited")
    box.setGroupSeparatorShown(True)
    return box


def limit_value(box: QSpinBox) -> int | None:
    return box.value() or None


def iso_utc(moment: QDateTime) -> str:
    """A QDateTime as the API's ISO 8601 UTC form."""
    seconds = moment.toSecsSinceEpoch()
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenDialog(FormDialog):
    """Issue a token (row None) or change one's limits; `endpoints` are the endpoint rows
    offered for the allow-list."""

    def __init__(self, ctx: Context, endpoints: list[dict[str, Any]],
                 row: dict[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(ctx, f"Change token {row['name']}" if row else "Issue a token", parent)
        self.row = row
        self.name = QLineEdit(placeholderText="who or what uses it, e.g. build-server")
        self.scopes = {scope: QCheckBox(scope) for scope in SCOPES}
        self.scopes["all"].toggled.connect(self._all_toggled)
        self.scopes["all"].setChecked(True)
        self.rpm = limit_box(" / min")
        self.monthly_requests = limit_box()
        self.monthly_tokens = limit_box()
        self.budget = budget_field()
        self.allowed_ips = QPlainTextEdit(placeholderText="one address or CIDR a line, e.g. "
                                                          "10.0.0.0/8; empty: any address")
        self.allowed_ips.setFixedHeight(64)
        self.endpoints = self._endpoint_list(endpoints)
        self.expires = QCheckBox("Expires")
        self.expires_at = QDateTimeEdit(QDateTime.currentDateTime().addDays(90),
                                        calendarPopup=True, enabled=False)
        self.expires_at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.expires.toggled.connect(self.expires_at.setEnabled)
        self._layout_fields()
        if row:
            self._fill(row)

    def _fill(self, row: dict[str, Any]) -> None:
        self.name.setText(row.get("name", ""))
        scopes = set(row.get("scopes") or ["all"])
        for scope, box in self.scopes.items():
            box.setChecked(scope in scopes)
        for box, field in ((self.rpm, "rpm"), (self.monthly_requests, "monthly_requests"),
                           (self.monthly_tokens, "monthly_tokens")):
            box.setValue(row.get(field) or 0)
        self.budget.setText(amount_text(row.get("monthly_budget")))
        self.allowed_ips.setPlainText("\n".join(row.get("allowed_ips") or []))
        allowed = set(row.get("allowed_endpoints") or [])
        for i in range(self.endpoints.count()):
            item = self.endpoints.item(i)
            if item.data(Qt.ItemDataRole.UserRole) in allowed:
                item.setCheckState(Qt.CheckState.Checked)
        if row.get("expires_at"):
            self.expires.setChecked(True)
            self.expires_at.setDateTime(QDateTime.fromString(
                row["expires_at"], Qt.DateFormat.ISODate).toLocalTime())

    def _all_toggled(self, on: bool) -> None:
        for scope, box in self.scopes.items():
            if scope != "all":
                box.setEnabled(not on)

    def _endpoint_list(self, endpoints: list[dict[str, Any]]) -> QListWidget:
        widget = QListWidget()
        widget.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        widget.setFixedHeight(96)
        widget.setToolTip("Tick the endpoints this token may call; none ticked: all of them")
        for endpoint in endpoints:
            item = QListWidgetItem(f"{endpoint['name']}  ({endpoint['path']})")
            item.setData(Qt.ItemDataRole.UserRole, endpoint["id"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            widget.addItem(item)
        return widget

    def _layout_fields(self) -> None:
        scopes = QHBoxLayout()
        for box in self.scopes.values():
            scopes.addWidget(box)
        scopes.addStretch(1)
        expiry = QHBoxLayout()
        expiry.addWidget(self.expires)
        expiry.addWidget(self.expires_at, 1)
        self.form.addRow("Name", self.name)
        self.form.addRow("Scopes", scopes)
        self.form.addRow("Rate limit", self.rpm)
        self.form.addRow("Requests a month", self.monthly_requests)
        self.form.addRow("Model tokens a month", self.monthly_tokens)
        self.form.addRow("Monthly budget ($)", self.budget)
        self.form.addRow("Allowed IPs", self.allowed_ips)
        self.form.addRow("Endpoints", self.endpoints)
        self.form.addRow("", expiry)

    def checked_endpoints(self) -> list[int]:
        items = (self.endpoints.item(i) for i in range(self.endpoints.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items
                if item.checkState() == Qt.CheckState.Checked]

    def payload(self) -> dict[str, Any]:
        scopes = ["all"] if self.scopes["all"].isChecked() else [
            scope for scope, box in self.scopes.items() if box.isChecked()]
        if not scopes:
            raise InvalidInput("tick at least one scope")
        ips = [line.strip() for line in self.allowed_ips.toPlainText().splitlines()
               if line.strip()]
        payload = {"name": self.name.text().strip(), "scopes": scopes,
                   "rpm": limit_value(self.rpm),
                   "monthly_requests": limit_value(self.monthly_requests),
                   "monthly_tokens": limit_value(self.monthly_tokens),
                   "allowed_ips": ips, "allowed_endpoints": self.checked_endpoints(),
                   "expires_at": iso_utc(self.expires_at.dateTime())
                   if self.expires.isChecked() else None}
        budget = parse_amount(self.budget.text(), "the monthly budget", "monthly_budget")
        # No budget, none before: left out, so a server from before budgets takes the rest.
        if budget is not None or (self.row or {}).get("monthly_budget") is not None:
            payload["monthly_budget"] = budget
        return payload

    def point_at(self, param: str | None, message: str) -> None:
        if param == "monthly_budget":
            self.budget.setFocus()

    def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.row:
            return self.ctx.api.update("tokens", self.row["id"], payload)
        return self.ctx.api.create("tokens", payload)


class NewTokenDialog(QDialog):
    """Shows a new token's plaintext once, with a Copy button; given the server's address
    and the endpoints, also "Use with…" (settings for agents and SDKs, with the plaintext)."""

    def __init__(self, created: dict[str, Any], parent: QWidget | None = None,
                 base_url: str | None = None,
                 endpoints: list[dict[str, Any]] | None = None) -> None:
        super().__init__(parent)
        self.created = {k: v for k, v in created.items() if k != "token"}
        self.base_url = base_url
        self.endpoints = endpoints or []
        self.use_with_dialog: UseWithDialog | None = None
        self.setWindowTitle(f"Token {created.get('name', '')} issued")
        self.setMinimumWidth(560)
        warning = QLabel("<b>Copy this token now: you will not see it again.</b> "
                         "ModelProxy keeps only a hash of it. If it is lost, revoke it and "
                         "issue a new one.")
        warning.setWordWrap(True)
        self.token = QLineEdit(created["token"], readOnly=True)
        self.token.setCursorPosition(0)
        font = self.token.font()
        font.setFamily("monospace")
        self.token.setFont(font)
        self.copy = QPushButton("Copy")
        self.copy.clicked.connect(self.copy_token)
        row = QHBoxLayout()
        row.addWidget(self.token, 1)
        row.addWidget(self.copy)
        self.copied = QLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.accept)
        self.use_with = buttons.addButton("Use with…", QDialogButtonBox.ButtonRole.ActionRole)
        self.use_with.setToolTip("Settings for Claude Code, Codex and the SDKs, with this token")
        self.use_with.clicked.connect(self.open_use_with)
        self.use_with.setVisible(base_url is not None)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(warning)
        layout.addLayout(row)
        layout.addWidget(self.copied)
        layout.addWidget(buttons)
        self.copy.setFocus()

    def copy_token(self) -> None:
        QGuiApplication.clipboard().setText(self.token.text())
        self.copied.setText("Copied to the clipboard.")

    def open_use_with(self) -> UseWithDialog:
        dialog = for_token(self.base_url or "", self.endpoints, self.created,
                           self.token.text(), self)
        self.use_with_dialog = dialog
        # Closed first, it is deleted (show_dialog): this dialog must not reach for it.
        dialog.finished.connect(lambda _result, d=dialog: self._forget_use_with(d))
        show_dialog(dialog)
        return dialog

    def _forget_use_with(self, dialog: UseWithDialog) -> None:
        if self.use_with_dialog is dialog:
            self.use_with_dialog = None

    def done(self, result: int) -> None:
        self.token.clear()  # the plaintext does not outlive the dialog
        if self.use_with_dialog is not None:
            self.use_with_dialog.close()
            self.use_with_dialog = None
        super().done(result)
