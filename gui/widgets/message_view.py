"""One chat message: who wrote it, its text (markdown, code fences rendered while it streams),
the figures line under it, Copy and Edit."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

FENCE = "```"


def figures_text(meta: dict) -> str:
    if not meta or "tokens" not in meta:
        return ""
    parts = [f"{meta['tokens']} tokens", f"{meta.get('tokens_per_s', 0):.1f} tok/s"]
    if meta.get("ttft_s") is not None:
        parts.append(f"TTFT {meta['ttft_s']:.2f} s")
    if meta.get("stopped"):
        parts.append("stopped")
    if meta.get("model"):
        parts.append(meta["model"])
    return " · ".join(parts)


class AutoHeightBrowser(QTextBrowser):
    """A read-only text view as tall as its content (the transcript scrolls, not each message)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.NoFrame)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.document().contentsChanged.connect(self._fit)

    def _fit(self) -> None:
        self.document().setTextWidth(self.viewport().width())
        height = int(self.document().size().height()) + 6
        if height != self.height():
            self.setFixedHeight(max(height, 24))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()


class MessageView(QFrame):
    copy_requested = Signal(str)
    edit_requested = Signal(int)

    def __init__(self, role: str, text: str = "", meta: dict | None = None,
                 message_id: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id = message_id
        self.text = text
        self.setObjectName("message")
        self.setProperty("role", role)
        self.who = QLabel({"user": "You", "assistant": "Assistant"}.get(role, role.title()))
        self.who.setObjectName("messageRole")
        # under the text, on a line of its own that wraps: never cut off under Copy
        self.figures = QLabel(figures_text(meta or {}))
        self.figures.setObjectName("figures")
        self.figures.setWordWrap(True)
        self.figures.setVisible(bool(self.figures.text()))
        self.copy_button = QToolButton(text="Copy")
        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self.text))
        self.edit_button = QToolButton(text="Edit")
        self.edit_button.setVisible(role == "user")
        self.edit_button.clicked.connect(
            lambda: self.edit_requested.emit(self.message_id if self.message_id else -1))
        self.body = AutoHeightBrowser()
        self.body.setMinimumWidth(60)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.who)
        head.addStretch(1)
        head.addWidget(self.edit_button)
        head.addWidget(self.copy_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.setSpacing(2)
        lay.addLayout(head)
        lay.addWidget(self.body)
        lay.addWidget(self.figures)
        self._markdown = False  # streaming: the text is shown as markdown (it has a code fence)
        self.set_text(text, final=True)

    def set_text(self, text: str, *, final: bool) -> None:
        self.text = text
        self._markdown = False
        if final and self.role == "assistant":
            self.body.setMarkdown(text)
        elif self.role == "assistant" and FENCE in text:
            self._show_streaming_markdown()
        else:
            self.body.setPlainText(text)

    def _show_streaming_markdown(self) -> None:
        """A reply with a code fence is shown as markdown while it streams, a fence still open
        closed for the moment, so ```python never shows as raw text."""
        self._markdown = True
        text = self.text
        if text.count(FENCE) % 2:
            text += "\n" + FENCE
        self.body.setMarkdown(text)

    def append(self, piece: str) -> None:
        """Streaming: plain text is inserted at the end without re-laying out the whole message;
        once the reply has a code fence it is shown as markdown (the page calls this in batches,
        at most 25 times a second)."""
        self.text += piece
        if self.role == "assistant" and (self._markdown or FENCE in self.text):
            self._show_streaming_markdown()
            return
        cursor = QTextCursor(self.body.document())
        cursor.movePosition(QTextCursor.End)
        cursor.insertText(piece)

    def set_meta(self, meta: dict) -> None:
        self.set_figures(figures_text(meta))

    def set_figures(self, text: str) -> None:
        self.figures.setText(text)
        self.figures.setVisible(bool(text))
