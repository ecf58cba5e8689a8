"""Tokens: client credentials with their limits and this month's use against each quota.
Issue (the plaintext is shown once), change limits, revoke."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QMenu, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from gui.dialogs import confirm as ask
from gui.dialogs.token import NewTokenDialog, TokenDialog
from gui.dialogs.use_with import UseWithDialog, for_token
from gui.models.resources import QUOTA_ROLE, TokensModel, token_status
from gui.pages.base import Context, TablePage, show_dialog

Rows = list[dict[str, Any]]
BAR_COLORS = ((0.8, QColor("#4c9a5f")), (0.95, QColor("#d08a00")), (1.01, QColor("#c0392b")))

def bar_color(fraction: float) -> QColor:
    """Green, amber near the quota, red at it."""
    return next(color for limit, color in BAR_COLORS if fraction < limit)


class QuotaBarDelegate(QStyledItemDelegate):
    """Paints "used / quota" over a bar filled to the share of the quota used."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        fraction = index.data(QUOTA_ROLE)
        if fraction is None:
            super().paint(painter, option, index)
            return
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        bar = option.rect.adjusted(4, 4, -4, -4)
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(option.palette.midlight())
        painter.drawRoundedRect(bar, 3, 3)
        painter.setBrush(bar_color(fraction))
        painter.drawRoundedRect(QRect(bar.x(), bar.y(), round(bar.width() * fraction),
                                      bar.height()), 3, 3)
        painter.setPen(option.palette.text().color())
        painter.drawText(bar, Qt.AlignmentFlag.AlignCenter, index.data())
        painter.restore()


class TokensPage(TablePage):
    title = "Tokens"
    refresh_on_return = True  # the month's use and spend move with traffic
    resource = "tokens"
    issued = Signal(object)  # the NewTokenDialog showing a new token

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, TokensModel(), parent)
        self.endpoints: Rows = []
        self.add = self.add_button("Issue token…", self.new_item)
        self.edit = self.add_button("Edit…", self.open_selected, needs_selection=True)
        self.revoke = self.add_button("Revoke…", self.revoke_selected, needs_selection=True)
        self.use_with = self.add_button("Use with…", self.use_with_selected, writes=False,
                                        needs_selection=True)
        self.use_with.setToolTip("Settings for Claude Code, Codex and the SDKs")
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.bars = QuotaBarDelegate(self.table)
        for key in ("requests_month", "tokens_month"):
            self.table.setItemDelegateForColumn(self.model.column_index(key), self.bars)
        self.new_token_dialog: NewTokenDialog | None = None
        self.use_with_dialog: UseWithDialog | None = None

    def refresh(self) -> None:
        api = self.ctx.api
        self.ctx.run(lambda: (api.items("tokens"), api.items("endpoints")), self._show_both)

    def _show_both(self, answer: tuple[Rows, Rows]) -> None:
        tokens, self.endpoints = answer
        self._show(tokens)

    # --- dialogs -----------------------------------------------------------------------------

    def make_add_dialog(self) -> TokenDialog:
        dialog = TokenDialog(self.ctx, self.endpoints, None, self)
        dialog.saved.connect(self.show_new_token)
        return dialog

    def make_edit_dialog(self, row: dict[str, Any]) -> TokenDialog:
        dialog = TokenDialog(self.ctx, self.endpoints, row, self)
        dialog.saved.connect(lambda saved: self.changed(f"Token {saved['name']} saved"))
        return dialog

    def show_new_token(self, created: dict[str, Any]) -> NewTokenDialog:
        """Show the plaintext once; the table gets the row without it."""
        dialog = NewTokenDialog(created, self, self.ctx.api.base_url, self.endpoints)
        self.new_token_dialog = dialog
        dialog.finished.connect(self._forget_new_token)
        show_dialog(dialog)
        self.issued.emit(dialog)
        self.refresh()
        return dialog

    def _forget_new_token(self, _result: int) -> None:
        self.new_token_dialog = None

    def open_selected(self) -> None:
        row = self.table.selected_row()
        if row is not None and not self.ctx.read_only and token_status(row) != "revoked":
            show_dialog(self.make_edit_dialog(row))

    def use_with_selected(self, row: dict[str, Any] | None = None) -> UseWithDialog | None:
        """The "Use with…" panel for a row: its secret is not known, so a placeholder."""
        row = row or self.table.selected_row()
        if row is None:
            return None
        dialog = for_token(self.ctx.api.base_url, self.endpoints, row, None, self)
        self.use_with_dialog = dialog
        show_dialog(dialog)
        return dialog

    def row_menu(self, row: dict[str, Any]) -> QMenu:
        """A row's context menu."""
        menu = QMenu(self)
        menu.addAction("Use with…", lambda: self.use_with_selected(row))
        writable = not self.ctx.read_only and token_status(row) != "revoked"
        for text, slot in (("Edit…", self.open_selected), ("Revoke…", self.revoke_selected)):
            menu.addAction(text, slot).setEnabled(writable)
        return menu

    def _context_menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        row = self.table.selected_row()
        if row is not None:
            self.row_menu(row).exec(self.table.viewport().mapToGlobal(position))

    # --- actions -----------------------------------------------------------------------------

    def revoke_selected(self, row: dict[str, Any] | None = None) -> None:
        row = row or self.table.selected_row()
        if row is None or row.get("revoked"):
            return
        if not ask.confirm(self, f"Revoke token {row['name']} ({row['prefix']}…)? Clients "
                                 "using it are refused from now on; this cannot be undone."):
            return
        api = self.ctx.api
        self.ctx.run(lambda: api.revoke_token(row["id"]),
                     lambda _row: self.changed(f"Token {row['name']} revoked"))

