"""TargetsModel: an endpoint's targets as the endpoint dialog edits them, one row per
(provider, model) the endpoint may route to. Rows stay in the order they are tried: by
priority (lower first), rows of one priority sharing the load by weight."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from gui.models.base import Column, RecordTableModel

Index = QModelIndex | QPersistentModelIndex
EDIT = Qt.ItemDataRole.EditRole
PRICE_KEYS = ("price_input_per_m", "price_cached_input_per_m", "price_output_per_m")
PRICE_PART = {"price_input_per_m": "input", "price_cached_input_per_m": "cached_input",
              "price_output_per_m": "output"}
SENT = ("provider_id", "model", "priority", "weight", "enabled", *PRICE_KEYS)
WEIGHTS = (1, 1000)  # the server's ranges
PRIORITIES = (-1000, 1000)
INVALID = {"weight": f"the weight must be {WEIGHTS[0]} to {WEIGHTS[1]} (a share of the load: "
                     "a target not to be used is unticked in Enabled)",
           "priority": f"the priority must be {PRIORITIES[0]} to {PRIORITIES[1]}",
           **dict.fromkeys(("price_input_per_m", "price_cached_input_per_m",
                            "price_output_per_m"),
                           "a price is dollars per million tokens, e.g. 2.5; empty: the table's")}
ERROR_BACKGROUND = QColor("#f9d6d2")
MUTED = QColor("#7a7a7a")


def parse_price(text: Any) -> float | None:
    """A price per million tokens as typed; empty is none. ValueError if it is not one."""
    if text is None:
        return None
    text = str(text).strip().replace(",", ".")
    if not text:
        return None
    value = float(text)
    if value < 0 or not math.isfinite(value):
        raise ValueError(text)
    return value


def price_cell(row: dict[str, Any], key: str) -> str:
    """The override typed for the target, else the shipped table's price (marked), else
    "—"."""
    value = row.get(key)
    if value is not None:
        return f"{float(value):g}"
    if key == "price_cached_input_per_m" and row.get("price_input_per_m") is not None:
        return f"{float(row['price_input_per_m']):g} (input)"  # what the server falls back to
    table = row.get("price") or {}
    if table.get("source", "target") != "target" and table.get(PRICE_PART[key]) is not None:
        return f"{float(table[PRICE_PART[key]]):g} (table)"
    return "—"


@dataclass(frozen=True)
class PriceColumn(Column):
    def show(self, row: dict[str, Any]) -> str:
        return price_cell(row, self.key)


class TargetsModel(RecordTableModel):
    """Editable rows (dicts in the admin API's target shape); `targets()` is what the
    dialog sends as `targets`."""

    refused = Signal(int, str, str)  # (row, column key, why): a value typed was refused

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("provider", "Provider",
               value=lambda r: r.get("provider") or f"#{r.get('provider_id')}"),
        Column("model", "Model", text=lambda v: v or ""),
        Column("priority", "Priority", align_right=True),
        Column("weight", "Weight", align_right=True),
        Column("enabled", "Enabled", text=lambda _v: ""),  # a check box
        PriceColumn("price_input_per_m", "Input $/M", align_right=True),
        PriceColumn("price_cached_input_per_m", "Cached input $/M", align_right=True),
        PriceColumn("price_output_per_m", "Output $/M", align_right=True),
    )
    TIPS: ClassVar[dict[str, str]] = {
        "priority": "Lower is tried first; targets of one priority share the load by weight",
        "weight": f"{WEIGHTS[0]}-{WEIGHTS[1]}: the share of requests among targets of the "
                  "same priority",
        "price_input_per_m": "Empty: the shipped price table's price for the model",
        "price_cached_input_per_m": "Empty: the input price (or the table's)",
        "price_output_per_m": "Empty: the shipped price table's price for the model",
    }

    def __init__(self, providers: list[dict[str, Any]] | None = None,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.provider_names = {p["id"]: p["name"] for p in providers or []}
        self.error: tuple[int, str, str] | None = None  # (row, column key, message)

    # --- the list ---------------------------------------------------------------------

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.error = None
        named = [{**r, "provider": r.get("provider") or self.provider_names.get(
            r.get("provider_id"))} for r in rows]
        super().set_rows(sorted(named, key=lambda r: r.get("priority") or 0))

    def add_target(self, provider_id: int | None) -> int:
        """A new last target (a fallback: one priority after the highest); its row."""
        priority = max((r.get("priority") or 0 for r in self.rows), default=-1) + 1
        self.append_rows([{"provider_id": provider_id,
                           "provider": self.provider_names.get(provider_id),
                           "model": "", "priority": priority, "weight": 1, "enabled": True,
                           **dict.fromkeys(PRICE_KEYS)}])
        return len(self.rows) - 1

    def remove_target(self, row: int) -> None:
        if 0 <= row < len(self.rows):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.rows[row]
            self.endRemoveRows()
            self.error = None

    def move(self, row: int, delta: int) -> int:
        """Move a target up (-1) or down (+1) the order; its new row. Their priorities
        are swapped; where both had one priority (a weighted pool), the one now second and
        every target after it with that priority or more go one later."""
        other = row + delta
        if not (0 <= row < len(self.rows) and 0 <= other < len(self.rows)):
            return row
        first, second = sorted((row, other))
        upper, lower = self.rows[first], self.rows[second]
        if upper.get("priority") == lower.get("priority"):
            shared = upper.get("priority") or 0
            self.rows[first], self.rows[second] = lower, upper
            for later in self.rows[second:]:
                if (later.get("priority") or 0) >= shared:
                    later["priority"] = (later.get("priority") or 0) + 1
        else:
            upper["priority"], lower["priority"] = lower["priority"], upper["priority"]
            self.rows[first], self.rows[second] = lower, upper
        self.error = None
        self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1,
                                                           len(self.COLUMNS) - 1))
        return other

    def targets(self) -> list[dict[str, Any]]:
        """The `targets` list for the admin API, in the order tried."""
        return [{key: row.get(key) for key in SENT} for row in self.rows]

    def problems(self) -> list[tuple[int, str, str]]:
        """(row, column key, message) for what the server would refuse anyway."""
        found = []
        for i, row in enumerate(self.rows):
            if row.get("provider_id") is None:
                found.append((i, "provider", f"target {i + 1}: choose a provider"))
            if not str(row.get("model") or "").strip():
                found.append((i, "model", f"target {i + 1}: name the upstream model"))
        return found

    # --- the server's verdict -----------------------------------------------------------

    def mark_error(self, param: str | None, message: str) -> tuple[int, str] | None:
        """Mark the cell a 400 names (`targets[1].weight`); the (row, key) marked."""
        cell = field_cell(param)
        if cell is None or not 0 <= cell[0] < len(self.rows):
            return None
        key = "provider" if cell[1] in ("provider", "provider_id") else cell[1]
        if key not in {c.key for c in self.COLUMNS}:
            key = "model"
        self.error = (cell[0], key, message)
        index = self.index(cell[0], self.column_index(key))
        self.dataChanged.emit(index, index)
        return cell[0], key

    # --- editing ----------------------------------------------------------------------

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if not index.isValid():
            return base
        if self.COLUMNS[index.column()].key == "enabled":
            return base | Qt.ItemFlag.ItemIsUserCheckable
        return base | Qt.ItemFlag.ItemIsEditable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row, key = self.rows[index.row()], self.COLUMNS[index.column()].key
        if role == EDIT:
            return self._edit_value(row, key)
        if role == Qt.ItemDataRole.CheckStateRole and key == "enabled":
            return (Qt.CheckState.Checked if row.get("enabled", True)
                    else Qt.CheckState.Unchecked)
        if self.error is not None and self.error[:2] == (index.row(), key):
            if role == Qt.ItemDataRole.BackgroundRole:
                return ERROR_BACKGROUND
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.error[2]
        return super().data(index, role)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal
                and 0 <= section < len(self.COLUMNS)):
            return self.TIPS.get(self.COLUMNS[section].key)
        return super().headerData(section, orientation, role)

    def extra_data(self, row: dict[str, Any], column: Column, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and (
                column.key in PRICE_KEYS and row.get(column.key) is None):
            return MUTED  # the table's price (or none), not one typed here
        return None

    def _edit_value(self, row: dict[str, Any], key: str) -> Any:
        if key == "provider":
            return row.get("provider_id")
        if key in PRICE_KEYS:
            value = row.get(key)
            return "" if value is None else f"{float(value):g}"
        return row.get(key)

    def setData(self, index: Index, value: Any, role: int = EDIT) -> bool:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return False
        row, key = self.rows[index.row()], self.COLUMNS[index.column()].key
        try:
            changed = self._set(row, key, value, role)
        except (TypeError, ValueError):
            # The cell keeps its value, and says why (it quietly went back to 1 for a 0).
            self.error = (index.row(), key, INVALID.get(key, "not a valid value"))
            self.dataChanged.emit(index, index)
            self.refused.emit(index.row(), key, self.error[2])
            return False
        if not changed:
            return False
        self.error = None
        if key == "priority":
            self.beginResetModel()  # the order tried follows the priorities
            self.rows.sort(key=lambda r: r.get("priority") or 0)
            self.endResetModel()
        else:
            self.dataChanged.emit(self.index(index.row(), 0),
                                  self.index(index.row(), len(self.COLUMNS) - 1))
        return True

    def _set(self, row: dict[str, Any], key: str, value: Any, role: int) -> bool:
        if key == "enabled" and role == Qt.ItemDataRole.CheckStateRole:
            row["enabled"] = Qt.CheckState(value) == Qt.CheckState.Checked
        elif role != EDIT:
            return False
        elif key == "provider":
            row["provider_id"] = int(value)
            row["provider"] = self.provider_names.get(row["provider_id"])
            row.pop("price", None)  # the table's price was the old provider's
        elif key == "model":
            row["model"] = str(value).strip()
            row.pop("price", None)
        elif key == "priority":
            row["priority"] = int(value)
        elif key == "weight":
            weight = int(value)
            if not WEIGHTS[0] <= weight <= WEIGHTS[1]:
                raise ValueError(weight)
            row["weight"] = weight
        elif key in PRICE_KEYS:
            row[key] = parse_price(value)
        else:
            return False
        return True


def field_cell(param: str | None) -> tuple[int, str] | None:
    """`targets[1].weight` as (1, "weight"); None for a field that is not a target's."""
    if not param or not param.startswith("targets["):
        return None
    number, _bracket, rest = param[len("targets["):].partition("]")
    if not number.isdigit():
        return None
    return int(number), rest.lstrip(".") or "model"
