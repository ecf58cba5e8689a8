"""The endpoint dialog's targets table: which providers and models an endpoint routes to,
in the order they are tried, with Add / Remove / Up / Down. A provider is picked from the
provider list; the model cell offers the provider's models (asked once per provider) and
takes any name typed in; the prices are optional overrides of the shipped table."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QItemSelectionModel,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    QTimer,
    Signal,
)
from PySide6.QtGui import QDoubleValidator, QValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from gui.api import APIError
from gui.models.targets import EDIT, PRICE_KEYS, PRIORITIES, WEIGHTS, TargetsModel
from gui.pages.base import Context

Index = QModelIndex | QPersistentModelIndex
TIP_DELAY_MS = 250


class ProviderDelegate(QStyledItemDelegate):
    """A provider cell edits with a combo of the providers' names."""

    def __init__(self, providers: list[dict[str, Any]], parent: QWidget) -> None:
        super().__init__(parent)
        self.providers = providers

    def createEditor(self, parent: QWidget, _option: QStyleOptionViewItem,
                     _index: Index) -> QWidget:
        combo = QComboBox(parent)
        for provider in self.providers:
            combo.addItem(provider["name"], provider["id"])
        return combo

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        editor.setCurrentIndex(max(0, editor.findData(index.data(EDIT))))

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:
        if editor.currentData() is not None:
            model.setData(index, editor.currentData())


class ModelDelegate(QStyledItemDelegate):
    """A model cell edits with an editable combo of the row's provider's models."""

    def __init__(self, editor: TargetsEditor) -> None:
        super().__init__(editor)
        self.targets = editor

    def createEditor(self, parent: QWidget, _option: QStyleOptionViewItem,
                     index: Index) -> QWidget:
        combo = QComboBox(parent, editable=True)
        provider_id = self.targets.model.row(index.row()).get("provider_id")
        combo.addItems(self.targets.models.get(provider_id, []))
        # No completer: the default inline one turned "gpt-4o" typed + Enter into
        # "gpt-4o-mini" (the first longer match), and a popup one eats the first Enter.
        # The provider's models are in the drop-down list.
        combo.setCompleter(None)
        return combo

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        editor.setEditText(index.data(EDIT) or "")

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:
        model.setData(index, editor.currentText())


class NumberDelegate(QStyledItemDelegate):
    """Priority and weight: whole numbers in their range."""

    def __init__(self, low: int, high: int, parent: QWidget) -> None:
        super().__init__(parent)
        self.low, self.high = low, high

    def createEditor(self, parent: QWidget, _option: QStyleOptionViewItem,
                     _index: Index) -> QWidget:
        return QSpinBox(parent, minimum=self.low, maximum=self.high)


class PriceValidator(QDoubleValidator):
    """A price or nothing. QDoubleValidator calls an empty field Intermediate, and the
    view then keeps the editor open on Enter: an override could not be taken away."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(0.0, 1_000_000.0, 6, parent)
        self.setNotation(QDoubleValidator.Notation.StandardNotation)
        self.setLocale(QLocale.c())

    def validate(self, text: str, pos: int) -> Any:
        if not text.strip():
            return QValidator.State.Acceptable, text, pos
        return super().validate(text, pos)


class PriceDelegate(QStyledItemDelegate):
    """A price: a decimal with a dot whatever the desktop's locale; empty is none."""

    def createEditor(self, parent: QWidget, _option: QStyleOptionViewItem,
                     _index: Index) -> QWidget:
        field = QLineEdit(parent, placeholderText="table")
        field.setValidator(PriceValidator(field))
        return field


class TargetsEditor(QWidget):
    """The table and its buttons. `models_loaded(provider_id, models)` once a provider
    has said which models it offers."""

    models_loaded = Signal(int, list)

    def __init__(self, ctx: Context, providers: list[dict[str, Any]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.providers = providers
        self.models: dict[int, list[str]] = {}  # provider id -> its models, once asked
        self._asked: set[int] = set()
        self.model = TargetsModel(providers, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        triggers = QAbstractItemView.EditTrigger  # not CurrentChanged: selecting is not editing
        self.table.setEditTriggers(triggers.DoubleClicked | triggers.SelectedClicked
                                   | triggers.EditKeyPressed | triggers.AnyKeyPressed)
        self.table.verticalHeader().hide()
        self.table.setMinimumHeight(130)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.model.column_index("model"),
                                    QHeaderView.ResizeMode.Stretch)
        self._delegates()
        self.add = _button("Add", "A fallback: tried after the targets above",
                           lambda: self.add_target(edit=True))
        self.remove = _button("Remove", "Remove the selected target", self.remove_selected)
        self.up = _button("Up", "Try the selected target earlier", lambda: self.move(-1))
        self.down = _button("Down", "Try the selected target later", lambda: self.move(1))
        buttons = QHBoxLayout()
        for button in (self.add, self.remove, self.up, self.down):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.table.selectionModel().selectionChanged.connect(self._enable_buttons)
        for changed in (self.model.modelReset, self.model.rowsInserted,
                        self.model.rowsRemoved):
            changed.connect(self._enable_buttons)
        self.model.dataChanged.connect(self._provider_maybe_changed)
        self.model.refused.connect(self._show_refused)
        self._enable_buttons()

    def _delegates(self) -> None:
        # Kept as attributes: a view does not own its delegates.
        self.provider_delegate = ProviderDelegate(self.providers, self)
        self.model_delegate = ModelDelegate(self)
        self.priority_delegate = NumberDelegate(*PRIORITIES, self)
        # From 0: a 0 typed reaches the model, which marks the cell with why it is refused
        # (a spin box from 1 quietly put the old weight back).
        self.weight_delegate = NumberDelegate(WEIGHTS[0] - 1, WEIGHTS[1], self)
        self.price_delegate = PriceDelegate(self)
        for key, delegate in (("provider", self.provider_delegate),
                              ("model", self.model_delegate),
                              ("priority", self.priority_delegate),
                              ("weight", self.weight_delegate),
                              *((key, self.price_delegate) for key in PRICE_KEYS)):
            self.table.setItemDelegateForColumn(self.model.column_index(key), delegate)

    # --- the rows -----------------------------------------------------------------------

    def set_targets(self, targets: list[dict[str, Any]]) -> None:
        self.model.set_rows(targets)
        for row in self.model.rows:
            self.load_models(row.get("provider_id"))

    def selected(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def select(self, row: int, key: str = "provider") -> None:
        self.table.setCurrentIndex(self.model.index(row, self.model.column_index(key)))
        self.table.selectRow(row)

    def add_target(self, edit: bool = False) -> int:
        """A new last target, with the first provider (or the one above's); `edit`: its
        model cell opens for typing (the Add button)."""
        above = self.model.rows[-1].get("provider_id") if self.model.rows else None
        provider_id = above if above is not None else (
            self.providers[0]["id"] if self.providers else None)
        row = self.model.add_target(provider_id)
        self.load_models(provider_id)
        self.select(row, "model")
        if edit:
            self.table.edit(self.model.index(row, self.model.column_index("model")))
        return row

    def remove_selected(self) -> None:
        row = self.selected()
        if row is not None and self.model.rowCount() > 1:  # an endpoint needs a target
            self.model.remove_target(row)
            self.select(min(row, self.model.rowCount() - 1))
            self._enable_buttons()

    def move(self, delta: int) -> None:
        row = self.selected()
        if row is not None:
            self.select(self.model.move(row, delta))
            # The button just pressed may now be disabled (top or bottom row): Qt would
            # pass the focus to the next field (the budget), where typing overwrites it.
            self.table.setFocus()

    def _enable_buttons(self, *_args: Any) -> None:
        row, count = self.selected(), self.model.rowCount()
        self.remove.setEnabled(row is not None and count > 1)
        self.up.setEnabled(row is not None and row > 0)
        self.down.setEnabled(row is not None and row < count - 1)

    def mark_error(self, param: str | None, message: str) -> bool:
        """Select the cell a 400 names (`targets[1].weight`); False if it names none."""
        cell = self.model.mark_error(param, message)
        if cell is not None:
            self._point_at(*cell)
        return cell is not None

    def _point_at(self, row: int, key: str) -> None:
        # The cell current, not selected: the row's selection colour hid the error colour.
        self.table.clearSelection()
        self.table.selectionModel().setCurrentIndex(
            self.model.index(row, self.model.column_index(key)),
            QItemSelectionModel.SelectionFlag.NoUpdate)
        self.table.setFocus()

    def _show_refused(self, row: int, key: str, message: str) -> None:
        """A value typed was refused: the cell marked, and why said at once (the cell's
        tooltip says it again on hover)."""
        self._point_at(row, key)
        rect = self.table.visualRect(self.model.index(row, self.model.column_index(key)))
        where = self.table.viewport().mapToGlobal(rect.bottomLeft())
        viewport = self.table.viewport()
        # Later, not now: the release of the Enter that committed the value hides a tip.
        # The viewport as context: Qt drops the call if the dialog is gone by then.
        QTimer.singleShot(TIP_DELAY_MS, viewport,
                          lambda: QToolTip.showText(where, message, viewport))

    # --- the providers' models --------------------------------------------------------

    def _provider_maybe_changed(self, first: Index, _last: Index, *_roles: Any) -> None:
        if 0 <= first.row() < self.model.rowCount():
            self.load_models(self.model.row(first.row()).get("provider_id"))

    def load_models(self, provider_id: int | None) -> None:
        """Ask a provider for its models (a connection test), once."""
        if provider_id is None or provider_id in self._asked:
            return
        self._asked.add(provider_id)
        api = self.ctx.api

        def ask() -> tuple[int, dict[str, Any]]:
            try:
                return provider_id, api.test_provider(provider_id)
            except APIError as exc:  # no list: the model is typed in
                return provider_id, {"ok": False, "error": exc.message}

        # A bound method as the callback: Qt drops it if the dialog is gone by then.
        self.ctx.run(ask, self._offer)

    def _offer(self, answer: tuple[int, dict[str, Any]]) -> None:
        provider_id, result = answer
        models = [m for m in result.get("models") or [] if m] if result.get("ok") else []
        self.models[provider_id] = models
        self.models_loaded.emit(provider_id, models)


def _button(text: str, tip: str, slot: Any) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button
