"""A scrolling column of MessageViews that follows the newest message while the user is at the
bottom (scrolling up to read stops the following)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from gui.widgets.message_view import MessageView


class Transcript(QScrollArea):
    copy_requested = Signal(str)
    edit_requested = Signal(int)
    moment_clicked = Signal(float)  # a [mm:ss] link in an answer, in seconds

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.views: list[MessageView] = []
        self.body = QWidget()
        self.body.setObjectName("transcript")
        self.lay = QVBoxLayout(self.body)
        self.lay.setContentsMargins(12, 12, 12, 12)
        self.lay.setSpacing(10)
        self.lay.addStretch(1)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setWidget(self.body)
        self._stick_to_bottom = True
        self.verticalScrollBar().rangeChanged.connect(self._follow)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    def add(self, role: str, text: str, meta: dict | None, message_id: int | None) -> MessageView:
        view = MessageView(role, text, meta, message_id)
        view.copy_requested.connect(self.copy_requested)
        view.edit_requested.connect(self.edit_requested)
        view.moment_clicked.connect(self.moment_clicked)
        self.lay.insertWidget(self.lay.count() - 1, view)
        self.views.append(view)
        self._stick_to_bottom = True
        return view

    def clear(self) -> None:
        for v in self.views:
            v.setParent(None)
            v.deleteLater()
        self.views = []

    def remove_from(self, message_id: int) -> None:
        """Drop the message ``message_id`` and every one after it."""
        keep = []
        for v in self.views:
            if v.message_id is not None and v.message_id >= message_id:
                v.setParent(None)
                v.deleteLater()
            else:
                keep.append(v)
        self.views = keep

    def find(self, message_id: int) -> MessageView | None:
        return next((v for v in self.views if v.message_id == message_id), None)

    def _on_scrolled(self, value: int) -> None:
        self._stick_to_bottom = value >= self.verticalScrollBar().maximum() - 24

    def _follow(self, _min: int, maximum: int) -> None:
        if self._stick_to_bottom:
            self.verticalScrollBar().setValue(maximum)
