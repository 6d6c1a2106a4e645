"""Chat page: conversations with a local language model, streamed token by token."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.cancel import CancelToken
from core.chat import (
    DEFAULT_CHAT_MODEL,
    ChatRequest,
    Conversation,
    GenerationSettings,
    HistoryStore,
    ReplyStats,
    Token,
    Truncated,
    title_from,
)
from core.errors import BadInput
from core.events import Done, Event
from core.models.registry import Task
from gui.context import AppContext
from gui.jobs import Job
from gui.picker import ModelPicker

EngineLoader = Callable[[str, str, CancelToken], Iterator[Event]]
FLUSH_MS = 40  # tokens reach the widget in batches, at most 25 times a second
SAVE_EVERY_S = 0.25  # a growing reply is written to the history this often


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
        self.figures = QLabel(figures_text(meta or {}))
        self.figures.setObjectName("figures")
        self.figures.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
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
        head.addWidget(self.figures, 1)
        head.addWidget(self.edit_button)
        head.addWidget(self.copy_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.setSpacing(2)
        lay.addLayout(head)
        lay.addWidget(self.body)
        self.set_text(text, final=True)

    def set_text(self, text: str, *, final: bool) -> None:
        self.text = text
        if final and self.role == "assistant":
            self.body.setMarkdown(text)
        else:
            self.body.setPlainText(text)

    def append(self, piece: str) -> None:
        """Streaming: insert at the end without re-laying out the whole message."""
        self.text += piece
        cursor = QTextCursor(self.body.document())
        cursor.movePosition(QTextCursor.End)
        cursor.insertText(piece)

    def set_meta(self, meta: dict) -> None:
        self.figures.setText(figures_text(meta))


class SettingsBox(QWidget):
    """System prompt and sampling settings of the current chat."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.system = QPlainTextEdit(placeholderText="System prompt (optional)")
        self.system.setFixedHeight(90)
        self.decoding = QComboBox()
        for key, label in (("sampling", "Sampling"), ("greedy", "Greedy"),
                           ("beam", "Beam search")):
            self.decoding.addItem(label, key)
        self.temperature = QDoubleSpinBox(minimum=0.0, maximum=2.0, singleStep=0.05, decimals=2)
        self.top_p = QDoubleSpinBox(minimum=0.01, maximum=1.0, singleStep=0.05, decimals=2)
        self.top_k = QSpinBox(minimum=0, maximum=1000)
        self.repetition = QDoubleSpinBox(minimum=0.5, maximum=2.0, singleStep=0.05, decimals=2)
        self.max_new = QSpinBox(minimum=1, maximum=32768, singleStep=64)
        self.seed = QSpinBox(minimum=-1, maximum=2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.beams = QSpinBox(minimum=2, maximum=16)
        self.beam_note = QLabel("Beam search shows the reply when it is complete (no streaming).")
        self.beam_note.setWordWrap(True)
        self.beam_note.setObjectName("hint")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        outer.addWidget(QLabel("System prompt"))
        outer.addWidget(self.system)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(form)
        outer.addStretch(1)
        form.addRow("Decoding", self.decoding)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("Top-k", self.top_k)
        form.addRow("Repetition penalty", self.repetition)
        form.addRow("Max new tokens", self.max_new)
        form.addRow("Seed", self.seed)
        form.addRow("Beams", self.beams)
        form.addRow(self.beam_note)
        self.set_values(GenerationSettings(), "")
        for w in (self.temperature, self.top_p, self.top_k, self.repetition, self.max_new,
                  self.seed, self.beams):
            w.valueChanged.connect(self.changed)
        self.decoding.currentIndexChanged.connect(self._sync_enabled)
        self.decoding.currentIndexChanged.connect(self.changed)
        self.system.textChanged.connect(self.changed)

    def _sync_enabled(self) -> None:
        mode = self.decoding.currentData()
        for w in (self.temperature, self.top_p, self.top_k, self.seed):
            w.setEnabled(mode == "sampling")
        self.beams.setEnabled(mode == "beam")
        self.beam_note.setVisible(mode == "beam")

    def values(self) -> GenerationSettings:
        return GenerationSettings(
            decoding=self.decoding.currentData(), temperature=self.temperature.value(),
            top_p=self.top_p.value(), top_k=self.top_k.value(),
            repetition_penalty=self.repetition.value(), max_new_tokens=self.max_new.value(),
            seed=None if self.seed.value() < 0 else self.seed.value(), num_beams=self.beams.value())

    def set_values(self, s: GenerationSettings, system_prompt: str) -> None:
        self.blockSignals(True)
        widgets = (self.system, self.decoding, self.temperature, self.top_p, self.top_k,
                   self.repetition, self.max_new, self.seed, self.beams)
        for w in widgets:
            w.blockSignals(True)
        self.system.setPlainText(system_prompt)
        self.decoding.setCurrentIndex(max(0, self.decoding.findData(s.decoding)))
        self.temperature.setValue(s.temperature)
        self.top_p.setValue(s.top_p)
        self.top_k.setValue(s.top_k)
        self.repetition.setValue(s.repetition_penalty)
        self.max_new.setValue(s.max_new_tokens)
        self.seed.setValue(-1 if s.seed is None else s.seed)
        self.beams.setValue(max(2, s.num_beams))
        for w in widgets:
            w.blockSignals(False)
        self.blockSignals(False)
        self._sync_enabled()


class Composer(QPlainTextEdit):
    """The input box: Enter sends, Shift+Enter starts a new line."""

    submit = Signal()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and not (event.modifiers() & Qt.ShiftModifier):
            self.submit.emit()
            return
        super().keyPressEvent(event)


def default_loader(ctx: AppContext) -> EngineLoader:
    def load(model_id: str, device: str, cancel: CancelToken) -> Iterator[Event]:
        from core.chat import open_model

        return open_model(ctx.registry, model_id, device, cancel)

    return load


class ChatPanel(QWidget, ModelPicker):
    reply_finished = Signal(object)  # ReplyStats (or None after a failure), once the panel is idle
    default_model_id = DEFAULT_CHAT_MODEL
    default_model_name = "SmolLM2-135M-Instruct"
    picker_tasks = (Task.TEXT_GENERATION,)
    settings_key = "chat/model"

    def __init__(self, ctx: AppContext, loader: EngineLoader | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.loader = loader or default_loader(ctx)
        self.store = HistoryStore(ctx.home.root / "chats.sqlite3")
        self.init_picker()
        self.conversation: Conversation | None = None
        self.views: list[MessageView] = []
        self.gen_job: Job | None = None
        self.editing_id: int | None = None
        self._pending = ""
        self._reply_view: MessageView | None = None
        self._reply_id: int | None = None
        self._last_save = 0.0
        self._last_stats: ReplyStats | None = None
        self._closed = False
        self._flush_timer = QTimer(self, interval=FLUSH_MS, timeout=self._flush)

        # ---- sidebar: conversations ----
        self.search = QLineEdit(placeholderText="Search chats…")
        self.search.setClearButtonEnabled(True)
        self.chat_list = QListWidget()
        self.chat_list.setObjectName("chatList")
        self.chat_list.setTextElideMode(Qt.ElideRight)
        self.chat_list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.new_button = QPushButton("New chat")
        self.rename_button = QPushButton("Rename")
        self.delete_button = QPushButton("Delete")
        self.export_button = QPushButton("Export")
        export_menu = QMenu(self.export_button)
        export_menu.addAction("Markdown…", lambda: self.export_dialog("md"))
        export_menu.addAction("JSON…", lambda: self.export_dialog("json"))
        self.export_button.setMenu(export_menu)
        side = QWidget()
        side.setObjectName("chatSide")
        side.setMinimumWidth(170)
        side.setMaximumWidth(300)
        slay = QVBoxLayout(side)
        slay.setContentsMargins(8, 12, 8, 8)
        slay.addWidget(self.new_button)
        slay.addWidget(self.search)
        slay.addWidget(self.chat_list, 1)
        row = QHBoxLayout()
        for b in (self.rename_button, self.delete_button, self.export_button):
            row.addWidget(b)
        slay.addLayout(row)

        # ---- centre: model bar, transcript, composer ----
        self.model_box = QComboBox()
        self.model_box.setMinimumWidth(260)
        self.model_status = QLabel("No model loaded yet: it loads with your first message.")
        self.model_status.setObjectName("hint")
        self.load_progress = QProgressBar()
        self.load_progress.setMaximumWidth(220)
        self.load_progress.hide()
        self.settings_button = QToolButton(text="Settings")
        self.settings_button.setCheckable(True)
        self.settings_button.setChecked(True)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Model"))
        bar.addWidget(self.model_box)
        bar.addWidget(self.load_progress)
        bar.addStretch(1)
        bar.addWidget(self.settings_button)

        self.transcript = QWidget()
        self.transcript.setObjectName("transcript")
        self.tlay = QVBoxLayout(self.transcript)
        self.tlay.setContentsMargins(12, 12, 12, 12)
        self.tlay.setSpacing(10)
        self.tlay.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.transcript)
        self.scroll.verticalScrollBar().rangeChanged.connect(self._follow)
        self._stick_to_bottom = True
        self.scroll.verticalScrollBar().valueChanged.connect(self._on_scrolled)

        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
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
        buttons = QVBoxLayout()
        for b in (self.send_button, self.stop_button, self.regen_button, self.cancel_edit_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        comp = QHBoxLayout()
        comp.addWidget(self.composer, 1)
        comp.addLayout(buttons)
        centre = QWidget()
        clay = QVBoxLayout(centre)
        clay.setContentsMargins(12, 12, 12, 8)
        clay.addLayout(bar)
        clay.addWidget(self.model_status)
        clay.addWidget(self.scroll, 1)
        clay.addWidget(self.notice)
        clay.addLayout(comp)

        self.settings_box = SettingsBox()
        settings_scroll = QScrollArea()
        settings_scroll.setWidgetResizable(True)
        settings_scroll.setWidget(self.settings_box)
        settings_scroll.setMinimumWidth(250)
        settings_scroll.setMaximumWidth(340)
        settings_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.settings_panel = settings_scroll

        split = QSplitter()
        split.addWidget(side)
        split.addWidget(centre)
        split.addWidget(settings_scroll)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(2, 0)
        split.setSizes([200, 600, 260])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        # ---- wiring ----
        self.search.textChanged.connect(self.refresh_list)
        self.chat_list.currentItemChanged.connect(self._on_chat_selected)
        self.new_button.clicked.connect(self.new_chat)
        self.rename_button.clicked.connect(self._rename_dialog)
        self.delete_button.clicked.connect(self._delete_dialog)
        self.composer.textChanged.connect(self._update_buttons)
        self.composer.submit.connect(self.send_from_composer)
        self.send_button.clicked.connect(self.send_from_composer)
        self.stop_button.clicked.connect(self.stop)
        self.regen_button.clicked.connect(self.regenerate)
        self.cancel_edit_button.clicked.connect(self._cancel_edit)
        self.settings_button.toggled.connect(self.settings_panel.setVisible)
        self.settings_box.changed.connect(self._save_settings)
        self.model_box.currentIndexChanged.connect(self._on_model_changed)
        QShortcut(QKeySequence("Ctrl+N"), self, self.new_chat)
        QShortcut(QKeySequence("Escape"), self, self.stop)

        self.set_models([])
        self.refresh_list()
        if self.chat_list.count():
            self.chat_list.setCurrentRow(0)
        self._update_buttons()

    # ---- models --------------------------------------------------------------------------
    def _on_model_changed(self) -> None:
        model_id = self.model_box.currentData()
        self.ctx.settings.set(self.settings_key, model_id)
        if self.conversation is not None:
            self.store.update(self.conversation.id, model_id=model_id)
        if self.model is not None and model_id != self.model_id:
            self.model_status.setText("Another model is picked: it loads with the next message.")

    def describe_model(self, engine) -> str:
        info = engine.info
        return (f"{info.name} · loaded in {info.seconds:.1f} s · "
                f"{info.device.split(':')[0].upper()} · context {info.context}"
                + ("" if info.has_chat_template else " · no chat template: plain completion"))

    def load_failed(self, exc: BaseException) -> None:
        self._mark_reply_failed()

    # ---- conversations ---------------------------------------------------------------------
    def refresh_list(self) -> None:
        keep = self.conversation.id if self.conversation else None
        self.chat_list.blockSignals(True)
        self.chat_list.clear()
        for conv in self.store.conversations(self.search.text().strip()):
            item = QListWidgetItem(conv.title)
            item.setData(Qt.UserRole, conv.id)
            item.setToolTip(time.strftime("%Y-%m-%d %H:%M", time.localtime(conv.updated)))
            self.chat_list.addItem(item)
            if conv.id == keep:
                self.chat_list.setCurrentItem(item)
        self.chat_list.blockSignals(False)

    def _on_chat_selected(self, item: QListWidgetItem | None) -> None:
        if item is None or self.busy():
            return
        self.open_conversation(item.data(Qt.UserRole))

    def open_conversation(self, conv_id: int) -> None:
        self.conversation = self.store.get(conv_id)
        self._cancel_edit()
        self.notice.hide()
        self.settings_box.set_values(GenerationSettings.from_dict(self.conversation.settings),
                                     self.conversation.system_prompt)
        if self.conversation.model_id:
            idx = self.model_box.findData(self.conversation.model_id)
            if idx >= 0:
                self.model_box.setCurrentIndex(idx)
        self._clear_views()
        for m in self.store.messages(conv_id):
            if m.role in ("user", "assistant"):
                self._add_view(m.role, m.content, m.meta, m.id)
        self._update_buttons()

    def new_chat(self) -> None:
        if self.busy():
            return
        self.conversation = None
        self._clear_views()
        self._cancel_edit()
        self.notice.hide()
        self.chat_list.clearSelection()
        self.chat_list.setCurrentItem(None)
        self.composer.setFocus()
        self._update_buttons()

    def _rename_dialog(self) -> None:
        if self.conversation is None:
            return
        title, ok = QInputDialog.getText(self, "Rename chat", "Title", text=self.conversation.title)
        if ok:
            self.rename(title)

    def rename(self, title: str) -> None:
        try:
            self.store.rename(self.conversation.id, title)
        except BadInput as exc:
            self.ctx.notify.show_error(exc)
            return
        self.conversation = self.store.get(self.conversation.id)
        self.refresh_list()

    def _delete_dialog(self) -> None:
        if self.conversation is None:
            return
        answer = QMessageBox.question(self, "Delete chat",
                                      f"Delete '{self.conversation.title}' and its messages?")
        if answer == QMessageBox.Yes:
            self.delete_current()

    def delete_current(self) -> None:
        if self.conversation is None or self.busy():
            return
        self.store.delete(self.conversation.id)
        self.conversation = None
        self._clear_views()
        self.refresh_list()
        if self.chat_list.count():
            self.chat_list.setCurrentRow(0)
        self._update_buttons()

    def export_dialog(self, kind: str) -> None:
        if self.conversation is None:
            return
        suffix = "md" if kind == "md" else "json"
        name = "".join(c if c.isalnum() or c in " -_" else "_" for c in self.conversation.title)
        start = str(Path(self.ctx.settings.get("chat/export_dir", str(Path.home()))) /
                    f"{name}.{suffix}")
        path, _ = QFileDialog.getSaveFileName(self, "Export chat", start,
                                              "Markdown (*.md)" if kind == "md" else "JSON (*.json)")
        if path:
            self.export(path, kind)

    def export(self, path: str, kind: str) -> None:
        try:
            if kind == "md":
                text = self.store.export_markdown(self.conversation.id)
            else:
                text = json.dumps(self.store.export_json(self.conversation.id), indent=2,
                                  ensure_ascii=False)
            Path(path).write_text(text, encoding="utf-8")
        except OSError as exc:
            self.ctx.notify.show_error(exc)
            return
        self.ctx.settings.set("chat/export_dir", str(Path(path).parent))
        self.ctx.notify.show_info(f"Exported to {path}")

    def _save_settings(self) -> None:
        if self.conversation is not None:
            self.store.update(self.conversation.id, settings=self.settings_box.values().to_dict(),
                              system_prompt=self.settings_box.system.toPlainText())

    # ---- the transcript --------------------------------------------------------------------
    def _clear_views(self) -> None:
        for v in self.views:
            v.setParent(None)
            v.deleteLater()
        self.views = []

    def _add_view(self, role: str, text: str, meta: dict | None, message_id: int | None
                  ) -> MessageView:
        view = MessageView(role, text, meta, message_id)
        view.copy_requested.connect(self.copy_text)
        view.edit_requested.connect(self.start_edit)
        self.tlay.insertWidget(self.tlay.count() - 1, view)
        self.views.append(view)
        self._stick_to_bottom = True
        return view

    def _on_scrolled(self, value: int) -> None:
        bar = self.scroll.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - 24

    def _follow(self, _min: int, maximum: int) -> None:
        if self._stick_to_bottom:
            self.scroll.verticalScrollBar().setValue(maximum)

    def copy_text(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.ctx.notify.show_info("Copied to the clipboard.", timeout_ms=2000)

    # ---- sending ---------------------------------------------------------------------------
    def busy(self) -> bool:
        return self.gen_job is not None or self.load_job is not None

    def _update_buttons(self) -> None:
        generating = self.gen_job is not None
        busy = self.busy()
        has_text = bool(self.composer.toPlainText().strip())
        self.send_button.setEnabled(has_text and not busy)
        self.send_button.setText("Resubmit" if self.editing_id else "Send")
        self.stop_button.setVisible(busy)
        self.send_button.setVisible(not busy)
        # regenerate the last reply, or retry a message that got none (e.g. the load failed)
        self.regen_button.setEnabled(bool(self.views) and not busy)
        for b in (self.rename_button, self.delete_button, self.export_button):
            b.setEnabled(self.conversation is not None and not generating)
        self.new_button.setEnabled(not busy)
        self.model_box.setEnabled(not busy)

    def start_edit(self, message_id: int) -> None:
        if self.busy() or message_id < 0:
            return
        view = next((v for v in self.views if v.message_id == message_id), None)
        if view is None:
            return
        self.editing_id = message_id
        self.composer.setPlainText(view.text)
        self.composer.setFocus()
        self.cancel_edit_button.show()
        self.notice.setText("Editing a message: Resubmit replaces it and every message after it.")
        self.notice.show()
        self._update_buttons()

    def _cancel_edit(self) -> None:
        if self.editing_id is not None:
            self.composer.clear()
            self.notice.hide()
        self.editing_id = None
        self.cancel_edit_button.hide()
        self._update_buttons()

    def send_from_composer(self) -> None:
        text = self.composer.toPlainText()
        if not text.strip() or self.busy():
            return
        self.send(text)

    def send(self, text: str) -> None:
        """Add the user's message (replacing an edited one and what followed) and answer it."""
        if not text.strip():
            raise BadInput("The message is empty.")
        if self.busy():
            raise BadInput("A reply is still being generated.", hint="Stop it or wait.")
        if self.conversation is None:
            s = self.settings_box
            self.conversation = self.store.create(
                title_from(text), model_id=self.model_box.currentData(),
                system_prompt=s.system.toPlainText(), settings=s.values().to_dict())
            self.refresh_list()
        if self.editing_id is not None:
            self._truncate_from(self.editing_id)
            self.editing_id = None
            self.cancel_edit_button.hide()
            self.notice.hide()
        message = self.store.add_message(self.conversation.id, "user", text)
        self._add_view("user", text, {}, message.id)
        self.composer.clear()
        self.refresh_list()
        self.ensure_model(self._start_reply)

    def _truncate_from(self, message_id: int) -> None:
        self.store.delete_from(message_id)
        keep = []
        for v in self.views:
            if v.message_id is not None and v.message_id >= message_id:
                v.setParent(None)
                v.deleteLater()
            else:
                keep.append(v)
        self.views = keep

    def regenerate(self) -> None:
        if self.busy() or not self.views:
            return
        if self.views[-1].role == "assistant":
            self._truncate_from(self.views[-1].message_id)
        self.ensure_model(self._start_reply)

    def _start_reply(self) -> None:
        if self.conversation is None or self.model is None:
            return
        settings = self.settings_box.values()
        system = self.settings_box.system.toPlainText()
        history = [{"role": m.role, "content": m.content}
                   for m in self.store.messages(self.conversation.id)
                   if m.role in ("user", "assistant")]
        request = ChatRequest(tuple(history), system, settings)
        try:
            request.validate()
        except BadInput as exc:
            self.ctx.notify.show_error(exc)
            return
        model_name = self.model.info.name
        reply = self.store.add_message(self.conversation.id, "assistant", "",
                                       {"model": model_name, "partial": True})
        self._reply_id = reply.id
        self._reply_view = self._add_view("assistant", "", {}, reply.id)
        if not settings.streams:
            self._reply_view.set_text("Beam search: the reply appears when it is complete…",
                                      final=False)
            self._reply_view.text = ""
        self._pending = ""
        self._last_save = time.monotonic()
        engine = self.model
        self.gen_job = self.ctx.runner.start("Generating a reply",
                                             lambda c: engine.stream(request, c),
                                             min_interval=0)
        self.gen_job.event.connect(self._on_reply_event)
        self.gen_job.failed.connect(self._on_reply_failed)
        self.gen_job.finished.connect(self._on_reply_finished)
        self._flush_timer.start()
        self._update_buttons()

    def _on_reply_event(self, ev: Event) -> None:
        if self._closed:
            return
        if isinstance(ev, Token):
            if not self._pending and self._reply_view is not None and not self._reply_view.text \
                    and not self.settings_box.values().streams:
                self._reply_view.set_text("", final=False)
            self._pending += ev.text
        elif isinstance(ev, Truncated):
            self.notice.setText(ev.message)
            self.notice.show()
        elif isinstance(ev, Done):
            self._flush()
            stats: ReplyStats = ev.result
            meta = {**stats.figures(), "model": self.model.info.name if self.model else ""}
            view = self._reply_view
            if view is not None:
                view.set_text(stats.text, final=True)
                view.set_meta(meta)
            if self._reply_id is not None:
                self.store.update_message(self._reply_id, stats.text, meta)
            self._last_stats = stats

    def _flush(self) -> None:
        if self._closed or not self._pending or self._reply_view is None:
            return
        piece, self._pending = self._pending, ""
        self._reply_view.append(piece)
        now = time.monotonic()
        if self._reply_id is not None and now - self._last_save >= SAVE_EVERY_S:
            self._last_save = now
            self.store.update_message(self._reply_id, self._reply_view.text)

    def _mark_reply_failed(self) -> None:
        if self._reply_id is not None and self._reply_view is not None:
            self._flush()
            self.store.update_message(self._reply_id, self._reply_view.text,
                                      {"error": True, "partial": True})
            self._reply_view.set_meta({})
            self._reply_view.figures.setText("failed: the partial reply is kept")

    def _on_reply_failed(self, exc: BaseException) -> None:
        self._mark_reply_failed()
        self.ctx.notify.show_error(exc)

    def _on_reply_finished(self) -> None:
        if self._closed:
            return
        self._flush_timer.stop()
        self._flush()
        self.gen_job = None
        self._reply_view = None
        self._reply_id = None
        self.refresh_list()
        self._update_buttons()
        stats, self._last_stats = self._last_stats, None
        self.reply_finished.emit(stats)

    def stop(self) -> None:
        """Stop generating (the partial reply stays) or cancel a model load."""
        if self.gen_job is not None:
            self.gen_job.cancel()
        elif self.load_job is not None:
            self.load_job.cancel()

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """On quit: what was shown of a reply in progress is saved, then the store closes."""
        if self._closed:
            return
        self._flush()
        if self._reply_id is not None and self._reply_view is not None:
            self.store.update_message(self._reply_id, self._reply_view.text,
                                      {"partial": True, "stopped": True})
        self._closed = True  # signals still queued from the stopped job find nothing to do
        self._flush_timer.stop()
        self.store.close()
