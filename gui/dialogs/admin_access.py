"""The first-run setup's offer to open the admin API to admins' machines only.

Until an admin allow-list is in force the admin API answers any address that reaches the
server. The box says so, and offers the address the server sees this machine at (loopback:
both of this machine's), ticked: most appliances are managed from one or two desks.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QLineEdit, QVBoxLayout, QWidget

LOOPBACK = ("127.0.0.1", "::1")
CHECKBOX_TEXT = "Only these addresses may use the admin API:"  # the server's start-up hint


class AdminAccessBox(QGroupBox):
    """A box of its own: it is about the server, not the admin being created."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Who may use the admin API", parent)
        self.note = QLabel("Asking the server who may use the admin API…")
        self.note.setWordWrap(True)
        self.only = QCheckBox(CHECKBOX_TEXT)
        self.addresses = QLineEdit()
        self.addresses.setPlaceholderText("192.168.1.20, 192.168.1.0/28")
        self.addresses.setToolTip("IP addresses or networks (CIDR), separated by commas or "
                                  "spaces. Change them later under Settings: admin_allow.")
        self.only.toggled.connect(self.addresses.setEnabled)
        layout = QVBoxLayout(self)
        for widget in (self.note, self.only, self.addresses):
            layout.addWidget(widget)
        self._offer(False)

    def _offer(self, on: bool) -> None:
        self.only.setEnabled(on)
        self.only.setChecked(on)
        self.addresses.setEnabled(on)

    def show_status(self, status: dict[str, Any]) -> None:
        """Fill in from GET /admin/api/setup."""
        allow, source = status.get("admin_allow") or [], status.get("admin_allow_source")
        if source == "environment":
            self.note.setText("The server's MODELPROXY_ADMIN_ALLOW opens the admin API to "
                              f"{', '.join(allow)} only; change it there.")
            self.addresses.setText(", ".join(allow))
            self._offer(False)
            return
        address = str(status.get("address") or "")
        self.note.setText("The admin API answers any address that can reach the server, so "
                          "anyone on the network may try to log in. Open it to admins' "
                          "machines only (the server sees this one as "
                          f"{address or 'unknown'}):")
        self.addresses.setText(", ".join(allow or (LOOPBACK if address in LOOPBACK
                                                   else [address] if address else [])))
        self._offer(True)

    def unavailable(self, message: str) -> None:
        self.note.setText(f"Could not ask the server who may use the admin API: {message}")
        self._offer(False)

    def admin_allow(self) -> list[str] | None:
        """The list to store with the first admin; None: none. Raises ValueError when ticked
        with no address (the server checks each one)."""
        if not (self.only.isEnabled() and self.only.isChecked()):
            return None
        items = [item for item in re.split(r"[,\s]+", self.addresses.text()) if item]
        if not items:
            raise ValueError("List at least one address, or untick “Only these addresses”.")
        return items
