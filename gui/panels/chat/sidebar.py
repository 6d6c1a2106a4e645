"""The Chat page's list of conversations: search, the list (several can be selected), New /
Rename / Delete / Export, and "Use as training data…": the selected chats written as chat JSONL
(core.chat.write_chat_training) and handed to the Fine-tune page (gui.links.train_on)."""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.chat import Conversation, HistoryStore

SIDE_WIDTH = 240


def list_titles(convs: list[Conversation]) -> list[str]:
    """What the list shows of each chat: its title; chats that share a title get a second line
    with the time each was last used and its number ("29 Nov 22:31 · #12"), so "What is the
    capital of Fra…" twice can be told apart (each line is elided on its own)."""
    counts = Counter(c.title for c in convs)
    out = []
    for c in convs:
        if counts[c.title] > 1:
            when = time.strftime("%d %b %H:%M", time.localtime(c.updated))
            out.append(f"{c.title}\n{when} · #{c.id}")
        else:
            out.append(c.title)
    return out


class ChatList(QWidget):
    export_requested = Signal(str)  # "md" or "json"
    train_requested = Signal(list)  # the ids of the selected chats: use them as training data

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatSide")
        self.search = QLineEdit(placeholderText="Search chats…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setObjectName("chatList")
        self.list.setTextElideMode(Qt.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setSelectionMode(QAbstractItemView.ExtendedSelection)  # Ctrl/Shift+click
        self.list.setContextMenuPolicy(Qt.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.new_button = QPushButton("New chat")
        self.rename_button = QPushButton("Rename")
        self.delete_button = QPushButton("Delete")
        self.export_button = QPushButton("Export")
        export_menu = QMenu(self.export_button)
        export_menu.addAction("Markdown…", lambda: self.export_requested.emit("md"))
        export_menu.addAction("JSON…", lambda: self.export_requested.emit("json"))
        export_menu.addSeparator()
        self.train_action = export_menu.addAction("Use as training data…", self.request_training)
        self.train_action.setToolTip("Write the selected chats as chat JSONL and open a "
                                     "fine-tuning run on them")
        export_menu.setToolTipsVisible(True)
        self.export_button.setMenu(export_menu)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 12, 8, 8)
        lay.addWidget(self.new_button)
        lay.addWidget(self.search)
        lay.addWidget(self.list, 1)
        row = QHBoxLayout()
        for b in (self.rename_button, self.delete_button, self.export_button):
            row.addWidget(b)
        lay.addLayout(row)
        # a fixed width (a running job never narrows it) that fits the three buttons unclipped
        m = lay.contentsMargins()
        buttons = sum(b.sizeHint().width() for b in (self.rename_button, self.delete_button,
                                                     self.export_button))
        self.setFixedWidth(max(SIDE_WIDTH, buttons + 2 * row.spacing() + m.left() + m.right()
                               + 4))

    def selected_ids(self) -> list[int]:
        """The selected chats in list order (the current one when none is selected)."""
        items = sorted(self.list.selectedItems(), key=self.list.row)
        if not items and self.list.currentItem() is not None:
            items = [self.list.currentItem()]
        return [it.data(Qt.UserRole) for it in items]

    def bind_training(self, ctx, store: HistoryStore) -> None:
        """"Use as training data…" writes the selected chats of ``store`` (train_on_chats)."""
        self.train_requested.connect(lambda ids: train_on_chats(ctx, store, ids))

    def request_training(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.train_requested.emit(ids)

    def _context_menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        if not item.isSelected():
            self.list.setCurrentItem(item)
        n = len(self.selected_ids())
        menu = QMenu(self)
        action = menu.addAction(f"Use {n} chats as training data…" if n > 1 else
                                "Use as training data…", self.request_training)
        action.setEnabled(self.train_action.isEnabled())
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def fill(self, store: HistoryStore, keep: int | None) -> None:
        """The conversations matching the search, newest first; ``keep`` stays selected."""
        self.list.blockSignals(True)
        self.list.clear()
        convs = list(store.conversations(self.search.text().strip()))
        for conv, shown in zip(convs, list_titles(convs)):
            item = QListWidgetItem(shown)
            item.setData(Qt.UserRole, conv.id)
            item.setToolTip(time.strftime("%Y-%m-%d %H:%M", time.localtime(conv.updated)))
            self.list.addItem(item)
            if conv.id == keep:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def set_enabled(self, *, has_chat: bool, generating: bool, busy: bool) -> None:
        for b in (self.rename_button, self.delete_button, self.export_button):
            b.setEnabled(has_chat and not generating)
        self.train_action.setEnabled(not generating)  # a reply still growing is no example
        self.new_button.setEnabled(not busy)


def write_export(ctx, store: HistoryStore, conv_id: int, path: str, kind: str) -> None:
    """Write a conversation as Markdown ("md") or JSON, then say where (or why not); the folder
    is remembered for the next export."""
    if kind == "md":
        text = store.export_markdown(conv_id)
    else:
        text = json.dumps(store.export_json(conv_id), indent=2, ensure_ascii=False)
    from core.errors import BadInput
    from core.paths import atomic_write

    try:
        atomic_write(path, text)  # a failed export leaves the earlier file whole
    except BadInput as exc:
        ctx.notify.show_error(exc)
        return
    ctx.settings.set("chat/export_dir", str(Path(path).parent))
    ctx.notify.show_info(f"Exported to {path}")


def train_on_chats(ctx, store: HistoryStore, conv_ids: list[int]):
    """Write ``conv_ids`` as chat JSONL under the app's ``training-data`` folder (in a job), then
    ask the Fine-tune page to train on it with the model the chats used as the base. The job."""
    from core.chat import write_chat_training

    folder = ctx.home.root / "training-data"

    def done(export) -> None:
        from gui.links import TrainingData

        ctx.notify.show_info(export.line())
        ctx.links.train_on.emit(TrainingData("chat", export.path, base=export.model_id))

    return ctx.jobs.query("Writing training data",
                          lambda _cancel: write_chat_training(store, conv_ids, folder), done,
                          ctx.notify.show_error)


def ask_title(parent: QWidget, conv: Conversation | None) -> str | None:
    if conv is None:
        return None
    title, ok = QInputDialog.getText(parent, "Rename chat", "Title", text=conv.title)
    return title if ok else None


def confirm_delete(parent: QWidget, conv: Conversation | None) -> bool:
    if conv is None:
        return False
    answer = QMessageBox.question(parent, "Delete chat", f"Delete '{conv.title}' and its messages?")
    return answer == QMessageBox.Yes


def ask_export_path(parent: QWidget, conv: Conversation | None, kind: str, folder: str) -> str:
    """Where to write a conversation as Markdown ("md") or JSON; "" when cancelled."""
    if conv is None:
        return ""
    name = "".join(c if c.isalnum() or c in " -_" else "_" for c in conv.title)
    start = str(Path(folder) / f"{name}.{'md' if kind == 'md' else 'json'}")
    path, _ = QFileDialog.getSaveFileName(parent, "Export chat", start,
                                          "Markdown (*.md)" if kind == "md" else "JSON (*.json)")
    return path
