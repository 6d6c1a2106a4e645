"""Non-modal notifications: one sentence, a Details view with the traceback, never a blocking box;
and the stand-in for a page that could not open."""
from __future__ import annotations

import logging
import traceback

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import describe

log = logging.getLogger("workbench")


MAX_WAITING = 5  # messages kept behind the one shown


class NotificationBar(QFrame):
    """A strip at the top of the window. ``show_error`` for failures, ``show_info`` for news.
    A message that stays until dismissed is not lost when another arrives: Dismiss shows it again
    (the button says how many wait)."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notification")
        self.title = QLabel()
        self.title.setObjectName("notificationTitle")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.details_button = QPushButton("Details…")
        self.close_button = QPushButton("Dismiss")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        col = QVBoxLayout()
        col.setSpacing(0)
        col.addWidget(self.title)
        col.addWidget(self.text)
        lay.addLayout(col, 1)
        lay.addWidget(self.details_button)
        lay.addWidget(self.close_button)
        self.details_button.clicked.connect(self.open_details)
        self.close_button.clicked.connect(self.dismiss)
        self._details = ""
        self._sticky = False  # the message shown stays until dismissed
        self._waiting: list[tuple[str, str, str, str]] = []  # (kind, title, text, details)
        self._dialog: QDialog | None = None
        self._timer = QTimer(self, singleShot=True, timeout=self.dismiss)
        self._host: QWidget | None = None
        self.hide()

    def overlay(self, host: QWidget) -> None:
        """Float over the top of ``host`` instead of taking room in a layout: the page under it
        does not move when a notification comes or goes."""
        self.setParent(host)
        self._host = host
        host.installEventFilter(self)
        self._place()

    def eventFilter(self, obj, event) -> bool:
        if obj is self._host and event.type() == QEvent.Resize:
            self._place()
        return False

    def _place(self) -> None:
        if self._host is None:
            return
        width = self._host.width()
        height = self.heightForWidth(width) if self.hasHeightForWidth() else -1
        self.setGeometry(0, 0, width, max(height, self.sizeHint().height()))
        self.raise_()

    @property
    def kind(self) -> str:
        return self.property("kind") or ""

    def _show(self, kind: str, title: str, text: str, details: str, sticky: bool = True) -> None:
        # Qt's namespace costs ~30 ms to import: not before the window's first paint
        from PySide6.QtCore import Qt

        if text != self.text.text() or not self.isVisible():
            log.info("notification (%s): %s", kind, f"{title}: {text}" if title else text)
        self._waiting = [m for m in self._waiting if m[2] != text]  # shown again: in front
        if self.isVisible() and self._sticky and self.text.text() != text:
            self._waiting.append((self.kind, self.title.text(), self.text.text(), self._details))
            del self._waiting[:-MAX_WAITING]
        self._sticky = sticky
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self._timer.stop()
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.title.setText(title)
        self.text.setText(text)
        self._details = details
        self.details_button.setVisible(bool(details))
        self.title.setVisible(bool(title))
        n = len(self._waiting)
        self.close_button.setText(f"Dismiss ({n} more)" if n else "Dismiss")
        self.show()
        self._place()

    def show_error(self, exc: BaseException) -> None:
        title, sentence = describe(exc)
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._show("error", title, sentence, details)

    def show_info(self, text: str, *, timeout_ms: int = 6000) -> None:
        self._show("info", "", text, "", sticky=not timeout_ms)
        if timeout_ms:
            self._timer.start(timeout_ms)

    def dismiss(self) -> None:
        if self._waiting:
            kind, title, text, details = self._waiting.pop()
            self._sticky = False  # it is the one shown again, not one to keep behind it
            self._show(kind, title, text, details)
            return
        self.title.setVisible(True)
        self._sticky = False
        self.hide()
        self.dismissed.emit()

    def open_details(self) -> QDialog:
        dlg = QDialog(self.window())
        dlg.setWindowTitle("Error details")
        dlg.setModal(False)
        view = QPlainTextEdit(self._details)
        view.setReadOnly(True)
        view.setObjectName("mono")
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(dlg.close)
        lay = QVBoxLayout(dlg)
        lay.addWidget(QLabel(f"{self.title.text()}: {self.text.text()}"))
        lay.addWidget(view)
        lay.addWidget(buttons)
        dlg.resize(720, 420)
        dlg.show()
        self._dialog = dlg
        return dlg


class FailedPage(QWidget):
    """In place of a page that could not open: what went wrong, and Try again."""

    retry = Signal()

    def __init__(self, title: str, exc: BaseException, cause: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.error = exc
        heading, sentence = describe(exc)
        text = f"The {title} page could not open. {heading}: {sentence}"
        self.message = QLabel(f"{text}\n\n{cause}" if cause else text)
        self.message.setWordWrap(True)
        self.retry_button = QPushButton("Try again")
        self.retry_button.clicked.connect(self.retry)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 24, 24, 24)
        lay.addWidget(self.message)
        row = QHBoxLayout()
        row.addWidget(self.retry_button)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addStretch(1)
