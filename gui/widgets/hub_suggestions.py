"""The Models page's Hub suggestions: models one can download, apart from the installed ones, each
saying what it is for, and "needs internet" while the Hub cannot be reached.

    box = HubSuggestions()
    box.set_entries(entries)      the registry's Hub entries not downloaded yet
    box.set_online(True | False | None)   None: not known yet
    box.selected_hub_id() -> str | None
    Signal: chosen(str hub_id) when the user selects a suggestion.
"""
from __future__ import annotations

import os
import socket

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from core.models.registry import ModelEntry
from gui.widgets.model_facts import PURPOSE

HUB_HOST = ("huggingface.co", 443)


def hub_online(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers (a TCP connection, nothing sent); False when the
    Hub is switched off (HF_HUB_OFFLINE). Slow when offline: run it in a worker."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


class HubSuggestions(QWidget):
    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[ModelEntry] = []
        self.online: bool | None = None
        self.title = QLabel("Suggestions from the Hugging Face Hub")
        self.title.setObjectName("sectionTitle")
        self.status = QLabel()
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("hubSuggestions")
        self.list.setMaximumHeight(120)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.status)
        lay.addWidget(self.list)
        self.list.currentItemChanged.connect(self._on_current)
        self._fill()

    def set_entries(self, entries: list[ModelEntry]) -> None:
        keep = self.selected_hub_id()
        self.entries = list(entries)
        self._fill(keep)

    def set_online(self, online: bool | None) -> None:
        self.online = online
        self._fill(self.selected_hub_id())

    def selected_hub_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.UserRole) if item is not None and item.isSelected() else None

    def _fill(self, keep: str | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        tail = {None: "", True: "", False: " · needs internet"}[self.online]
        for e in self.entries:
            item = QListWidgetItem(f"{e.name} · {PURPOSE.get(e.task, e.task.value).lower()}{tail}")
            item.setData(Qt.UserRole, e.hub_id)
            item.setToolTip(e.hub_id or "")
            self.list.addItem(item)
            if e.hub_id == keep:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        if self.online is False:
            self.status.setText("Offline: these need internet to download. Everything listed "
                                "above works offline.")
        elif self.online is None:
            self.status.setText("Checking whether the Hub can be reached…")
        else:
            self.status.setText("Select one and press Download, or type any Hub id.")
        self.setVisible(bool(self.entries))

    def _on_current(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.chosen.emit(item.data(Qt.UserRole))
