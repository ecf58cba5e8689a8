"""Fields the add/edit dialogs share: amounts of money (a price, a monthly budget)."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QLocale
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import QLineEdit

from gui.dialogs.form import InvalidInput


def amount_field(placeholder: str = "none", tip: str = "") -> QLineEdit:
    """A decimal amount, typed with a dot whatever the desktop's locale; empty is none."""
    field = QLineEdit(placeholderText=placeholder)
    validator = QDoubleValidator(0.0, 1_000_000_000.0, 6, field)
    validator.setNotation(QDoubleValidator.Notation.StandardNotation)
    validator.setLocale(QLocale.c())
    field.setValidator(validator)
    field.setToolTip(tip)
    return field


def parse_amount(text: str, label: str, param: str | None = None) -> float | None:
    """An amount typed in a field; empty means none."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{label} must be a number, e.g. 5.00", param) from None
    if value < 0 or not math.isfinite(value):
        raise InvalidInput(f"{label} cannot be negative", param)
    return value


def amount_text(value: Any) -> str:
    """An amount as the field shows it ("" for none)."""
    return "" if value is None else f"{float(value):g}"


BUDGET_TIP = ("US dollars a calendar month (UTC); empty: no budget. Requests that could go "
              "past it are refused (429); at 80 % and 100 % the Overview warns")


def budget_field() -> QLineEdit:
    return amount_field("no budget", BUDGET_TIP)
