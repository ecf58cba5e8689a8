"""RecordTableModel: rows are the admin API's JSON objects; columns are declared by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex
ROW_ROLE = Qt.ItemDataRole.UserRole  # the whole row (a dict), for views and dialogs
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # a value that sorts right (numbers as numbers)


@dataclass(frozen=True)
class Column:
    key: str  # the name tests and code use
    header: str
    value: Callable[[dict[str, Any]], Any] | None = None  # default: row[key]
    text: Callable[[Any], str] | None = None  # how to show the value
    align_right: bool = False
    # how to show a value that needs the rest of the row (a cost is "no price" only where
    # tokens were used); sorting still goes by the value
    describe: Callable[[dict[str, Any]], str] | None = None
    tip: Callable[[dict[str, Any]], str] | None = None  # the tooltip; default: the text

    def get(self, row: dict[str, Any]) -> Any:
        return self.value(row) if self.value else row.get(self.key)

    def show(self, row: dict[str, Any]) -> str:
        if self.describe:
            return self.describe(row)
        value = self.get(row)
        if self.text:
            return self.text(value)
        if value is None:
            return "—"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value) or "—"
        return str(value)


class RecordTableModel(QAbstractTableModel):
    """A read-only table of dict rows. Subclasses set COLUMNS."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []

    # --- loading ----------------------------------------------------------------------

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def append_rows(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()

    def prepend_rows(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
        self.rows[:0] = rows
        self.endInsertRows()

    def row(self, index: int) -> dict[str, Any]:
        return self.rows[index]

    def column_index(self, key: str) -> int:
        return next(i for i, c in enumerate(self.COLUMNS) if c.key == key)

    def cell(self, row: int, key: str, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """What the view gets for a row and a named column."""
        return self.data(self.index(row, self.column_index(key)), role)

    def headers(self) -> list[str]:
        """The column headers, as the view reads them."""
        return [self.headerData(i, Qt.Orientation.Horizontal) for i in range(self.columnCount())]

    # --- QAbstractTableModel ----------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        column = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.show(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tip(row) if column.tip else column.show(row)
        if role == SORT_ROLE:
            value = column.get(row)
            return "" if value is None else value if isinstance(value, int | float) else str(
                value)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return self.extra_data(row, column, role)

    def extra_data(self, row: dict[str, Any], column: Column, role: int) -> Any:
        """Subclasses add roles (colours, progress values) here."""
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section].header
        if orientation == Qt.Orientation.Vertical:
            return section + 1
        return None
