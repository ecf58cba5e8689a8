""""Use with…": copy-ready settings for Claude Code, Codex and the OpenAI and Anthropic SDKs,
for one token on this server. Everything it shows is passed in (gui.connect_snippets
writes the text); the plaintext only when the token was just issued."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.connect_snippets import NO_MODEL, PLACEHOLDER, Target, model_names, snippets, token_warning
from gui.models.resources import token_status


class UseWithDialog(QDialog):
    """Tabs of settings, each block read-only with a Copy button; the endpoint combo boxes
    (where the token may use several) rewrite every block."""

    def __init__(self, base_url: str, models: list[str], token: str | None = None,
                 token_name: str = "", warning: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.base_url = base_url
        self.token = token
        self.setWindowTitle(f"Use token {token_name} with…" if token_name else "Use with…")
        self.setMinimumWidth(780)
        self.model = self._combo(models)
        self.fast_model = self._combo(models)
        self.tabs = QTabWidget()
        self.texts: dict[str, list[QPlainTextEdit]] = {}
        self.copy_buttons: dict[str, list[QPushButton]] = {}
        self.copied = QLabel()
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        for note in self._notes(models, warning):
            layout.addWidget(note)
        choices = QFormLayout()
        choices.addRow("Endpoint", self.model)
        choices.addRow("Fast model (Claude Code)", self.fast_model)
        layout.addLayout(choices)
        layout.addWidget(self.tabs, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.accept)
        bottom = QHBoxLayout()
        bottom.addWidget(self.copied, 1)
        bottom.addWidget(buttons)
        layout.addLayout(bottom)
        self._build_tabs()
        # Wrapped notes make the layout's own height too low for the tabs at this width.
        self.resize(780, max(self.layout().totalHeightForWidth(780),
                             self.layout().totalMinimumSize().height()) + 24)
        self._fast_follows = True  # until the fast model is chosen by hand
        self.fast_model.activated.connect(self._fast_chosen)
        self.model.currentTextChanged.connect(self._model_changed)
        self.fast_model.currentTextChanged.connect(lambda _text: self.refresh())

    def _combo(self, models: list[str]) -> QComboBox:
        box = QComboBox()
        box.addItems(models or [NO_MODEL])
        box.setEnabled(len(models) > 1)
        box.setToolTip("The endpoint names (and aliases) this token may use")
        return box

    def _notes(self, models: list[str], warning: str | None) -> list[QLabel]:
        texts = [f"Settings for this server, <b>{self.base_url}</b>. A chat endpoint answers "
                 "all three dialects (chat completions, Messages, Responses) by its name or "
                 "an alias."]
        if self.token is None:
            texts.append(f"The token's secret is not shown again: put it where "
                         f"<code>{PLACEHOLDER.replace('<', '&lt;').replace('>', '&gt;')}</code>"
                         " stands.")
        else:
            texts.append("These settings carry the token: keep them out of shared files "
                         "(a project's .claude/settings.json is often committed).")
        if not models:
            texts.append("This token may use no chat endpoint: allow one first.")
        labels = [QLabel(text, wordWrap=True) for text in texts]
        if warning:
            labels.append(QLabel(f"<b>{warning}</b>", wordWrap=True,
                                 styleSheet="color: #b3261e;"))
        return labels

    def target(self) -> Target:
        return Target(self.base_url, self.token, self.model.currentText(),
                      self.fast_model.currentText())

    def _build_tabs(self) -> None:
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        for title, sections in snippets(self.target()).items():
            page = QWidget()
            column = QVBoxLayout(page)
            self.texts[title], self.copy_buttons[title] = [], []
            for section in sections:
                text = QPlainTextEdit(readOnly=True)
                text.setFont(font)
                text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
                copy = QPushButton("Copy")
                copy.clicked.connect(lambda _checked=False, t=text, c=section.caption:
                                     self.copy(t, c))
                head = QHBoxLayout()
                head.addWidget(QLabel(section.caption), 1)
                head.addWidget(copy)
                column.addLayout(head)
                column.addWidget(text)
                text.setFixedHeight(fitting_height(text, section.text))
                self.texts[title].append(text)
                self.copy_buttons[title].append(copy)
            column.addStretch(1)
            self.tabs.addTab(page, title)
        self.refresh()

    def _fast_chosen(self, _index: int) -> None:
        self._fast_follows = False

    def _model_changed(self, model: str) -> None:
        """The fast model follows the model until it is chosen apart from it."""
        if self._fast_follows:
            self.fast_model.setCurrentText(model)
        self.refresh()

    def refresh(self) -> None:
        """Write every block again for the endpoints chosen."""
        for title, sections in snippets(self.target()).items():
            for text, section in zip(self.texts[title], sections, strict=True):
                text.setPlainText(section.text.rstrip("\n"))  # no empty last line

    def text_of(self, title: str) -> str:
        """Every block of a tab, as shown."""
        return "\n".join(t.toPlainText() for t in self.texts[title])

    def copy(self, text: QPlainTextEdit, caption: str) -> None:
        QGuiApplication.clipboard().setText(text.toPlainText())
        self.copied.setText(f"Copied: {caption.rstrip(':')}")

    def done(self, result: int) -> None:
        for texts in self.texts.values():  # a plaintext does not outlive the dialog
            for text in texts:
                text.clear()
        self.token = None
        super().done(result)


def fitting_height(text: QPlainTextEdit, content: str) -> int:
    """A height that shows every line of `content` without scrolling."""
    lines = max(1, content.rstrip("\n").count("\n") + 1)
    return (lines * text.fontMetrics().lineSpacing() + 2 * round(text.document().documentMargin())
            + 2 * text.frameWidth() + 2)


def for_token(base_url: str, endpoints: list[Mapping[str, Any]], row: Mapping[str, Any],
              token: str | None = None, parent: QWidget | None = None) -> UseWithDialog:
    """The panel for a token's row (and its plaintext, right after it was issued)."""
    models = model_names(endpoints, row.get("allowed_endpoints"))
    warning = token_warning(row, token_status(dict(row)))
    return UseWithDialog(base_url, models, token, str(row.get("name", "")), warning, parent)
