"""The message input box (Enter sends, Shift+Enter starts a new line) and its buttons (Send, Stop,
Regenerate, Cancel edit, Attach…)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class Composer(QPlainTextEdit):
    """The input box: Enter sends, Shift+Enter starts a new line."""

    submit = Signal()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and not (event.modifiers() & Qt.ShiftModifier):
            self.submit.emit()
            return
        super().keyPressEvent(event)


class ComposeBar(QWidget):
    """The composer with Send / Stop / Regenerate / Cancel edit / Attach… beside it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.composer = Composer(placeholderText="Message the model… (Enter sends, Shift+Enter "
                                                 "for a new line)")
        self.composer.setFixedHeight(80)
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.hide()
        self.regen_button = QPushButton("Regenerate")
        self.cancel_edit_button = QPushButton("Cancel edit")
        self.cancel_edit_button.hide()
        self.attach_button = QPushButton("Attach…")
        self.attach_button.setToolTip("Attach text, Markdown, CSV or transcript files: the answers "
                                      "quote them (you can also drop files on the chat)")
        buttons = QVBoxLayout()
        for b in (self.send_button, self.stop_button, self.regen_button, self.cancel_edit_button,
                  self.attach_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.composer, 1)
        lay.addLayout(buttons)
