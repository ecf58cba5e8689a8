"""Audit: who changed what, newest first; older entries load a page at a time."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from gui.models.resources import AuditModel
from gui.pages.base import Context, TablePage

PAGE_SIZE = 200


class AuditPage(TablePage):
    title = "Audit"
    resource = "audit"

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, AuditModel(), parent)
        self.next_cursor: str | None = None
        self.more = self.add_button("Load older", self.load_more, writes=False)
        self.more.setEnabled(False)
        self.table.setWordWrap(False)  # one line an entry; the tooltip holds the whole change
        self.table.sortByColumn(self.model.column_index("time"), Qt.SortOrder.DescendingOrder)

    def refresh(self) -> None:
        api = self.ctx.api
        self.ctx.run(lambda: api.get("/audit", limit=PAGE_SIZE), self._first_page)

    def load_more(self) -> None:
        """The next page of older entries, added below."""
        if not self.next_cursor:
            return
        api, cursor = self.ctx.api, self.next_cursor
        self.more.setEnabled(False)
        self.ctx.run(lambda: api.get("/audit", limit=PAGE_SIZE, cursor=cursor),
                     self._older_page)

    def _first_page(self, page: dict[str, Any]) -> None:
        self._set_cursor(page)
        self._show(page["items"])

    def _older_page(self, page: dict[str, Any]) -> None:
        self._set_cursor(page)
        self.model.append_rows(page["items"])
        self.loaded.emit()

    def _set_cursor(self, page: dict[str, Any]) -> None:
        self.next_cursor = page.get("next_cursor")
        self.more.setEnabled(bool(self.next_cursor))
        self.more.setToolTip("" if self.next_cursor else "Every entry is shown")
