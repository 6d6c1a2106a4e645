"""Non-modal notifications: one sentence, a Details view with the traceback, never a blocking box."""
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


class NotificationBar(QFrame):
    """A strip at the top of the window. ``show_error`` for failures, ``show_info`` for news."""

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

    def _show(self, kind: str, title: str, text: str, details: str) -> None:
        # Qt's namespace costs ~30 ms to import: not before the window's first paint
        from PySide6.QtCore import Qt

        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self._timer.stop()
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.title.setText(title)
        self.text.setText(text)
        self._details = details
        self.details_button.setVisible(bool(details))
        self.show()
        self._place()

    def show_error(self, exc: BaseException) -> None:
        title, sentence = describe(exc)
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._show("error", title, sentence, details)

    def show_info(self, text: str, *, timeout_ms: int = 6000) -> None:
        self._show("info", "", text, "")
        self.title.setVisible(False)
        self._place()
        if timeout_ms:
            self._timer.start(timeout_ms)

    def dismiss(self) -> None:
        self.title.setVisible(True)
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
