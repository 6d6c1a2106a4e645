"""One chat message: who wrote it, its text (markdown, code fences rendered while it streams),
the sources an answer quoted (file · lines a–b), the figures line under it, Copy and Edit. In a
chat with a transcript attached, ``[mm:ss]`` in an answer is a link (``moment_clicked``)."""
from __future__ import annotations

import re

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QTextCursor
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
MOMENT = re.compile(r"\[(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)\]")  # [mm:ss] or [h:mm:ss]
MOMENT_SCHEME = "moment"


def link_moments(text: str) -> str:
    """Markdown with each ``[mm:ss]`` made a ``moment:<seconds>`` link."""
    def link(m: re.Match) -> str:
        seconds = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
        return f"[\\[{m.group(0)[1:-1]}\\]]({MOMENT_SCHEME}:{seconds})"

    return MOMENT.sub(link, text)


def sources_html(sources: list[dict]) -> str:
    """"Sources" and one line per source; a transcript's time range links to its start."""
    from html import escape

    from core.chat import Source

    lines = []
    for d in sources:
        try:
            s = Source.from_dict(d)
        except (KeyError, TypeError, ValueError):
            continue
        label = escape(s.label()) + ("" if s.score is None else f" <i>({s.score:.2f})</i>")
        if s.start_s is not None:
            label = f'<a href="{MOMENT_SCHEME}:{int(s.start_s)}">{label}</a>'
        lines.append(label)
    return ("<b>Sources</b><br>" + "<br>".join(lines)) if lines else ""


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
        self.setOpenLinks(False)  # MessageView opens web links and answers moment: ones
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
    moment_clicked = Signal(float)  # seconds: a [mm:ss] link (or a source's time) was clicked

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
        # a long model name (Compare's narrow columns) is cut rather than widening the message
        self.who.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.who.setMinimumWidth(40)
        # under the text, on a line of its own that wraps: never cut off under Copy
        self.figures = QLabel(figures_text(meta or {}))
        self.figures.setObjectName("figures")
        self.figures.setWordWrap(True)
        self.figures.setVisible(bool(self.figures.text()))
        self.sources = QLabel()
        self.sources.setObjectName("sources")
        self.sources.setWordWrap(True)
        self.sources.setTextFormat(Qt.RichText)
        self.sources.linkActivated.connect(lambda href: self._on_link(QUrl(href)))
        self.set_sources((meta or {}).get("sources") or [])
        self.moment_links = False  # [mm:ss] in the text are links (a transcript is attached)
        self.copy_button = QToolButton(text="Copy")
        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self.text))
        self.edit_button = QToolButton(text="Edit")
        self.edit_button.setVisible(role == "user")
        self.edit_button.clicked.connect(
            lambda: self.edit_requested.emit(self.message_id if self.message_id else -1))
        self.body = AutoHeightBrowser()
        self.body.setMinimumWidth(60)
        self.body.anchorClicked.connect(self._on_link)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.who, 1)  # takes the free width; cut only when there is none
        head.addWidget(self.edit_button)
        head.addWidget(self.copy_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.setSpacing(2)
        lay.addLayout(head)
        lay.addWidget(self.body)
        lay.addWidget(self.sources)
        lay.addWidget(self.figures)
        self._final = True
        self._markdown = False  # streaming: the text is shown as markdown (it has a code fence)
        self.set_text(text, final=True)

    def set_text(self, text: str, *, final: bool) -> None:
        self.text = text
        self._final = final
        self._markdown = False
        if final and self.role == "assistant":
            self.body.setMarkdown(link_moments(text) if self.moment_links else text)
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

    def set_sources(self, sources: list[dict]) -> None:
        """The sources the answer was given (``core.chat.Source`` dicts), under its text."""
        html = sources_html(sources)
        self.sources.setText(html)
        self.sources.setVisible(bool(html))

    def set_moment_links(self, on: bool) -> None:
        """Make ``[mm:ss]`` in a finished answer links (or plain text again)."""
        if on != self.moment_links:
            self.moment_links = on
            if self._final:
                self.set_text(self.text, final=True)

    def _on_link(self, url: QUrl) -> None:
        if url.scheme() == MOMENT_SCHEME:
            try:
                self.moment_clicked.emit(float(url.path()))
            except ValueError:
                pass
        elif url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)
