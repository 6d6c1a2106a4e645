"""The Chat page: conversations with a local language model, streamed token by token."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.chat import (
    DEFAULT_CHAT_MODEL,
    ChatRequest,
    Conversation,
    HistoryStore,
    title_from,
)
from core.errors import BadInput
from core.models.registry import Task
from gui.context import AppContext
from gui.panels.chat.attachments import ChatAttachments
from gui.panels.chat.compare import ComparePane
from gui.panels.chat.conversations import ConversationActions
from gui.panels.chat.loaded import (
    EngineLoader,
    default_loader,
    describe_engine,
    picked_defaults,
    picks_llama,
)
from gui.panels.chat.reply import ReplyStream
from gui.panels.chat.settings_box import SettingsBox
from gui.panels.chat.sidebar import ChatList
from gui.widgets.composer import ComposeBar
from gui.widgets.model_box import ModelBox
from gui.widgets.model_session import ModelSession
from gui.widgets.transcript import Transcript


class ChatPanel(ConversationActions, QWidget):
    reply_finished = Signal(object)  # ReplyStats (or None after a failure), once the panel is idle

    def __init__(self, ctx: AppContext, loader: EngineLoader | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.store = HistoryStore(ctx.home.root / "chats.sqlite3")
        if getattr(self.store, "damage", None) is not None:  # moved aside: say so, go on afresh
            ctx.notify.show_error(self.store.damage)
        self.session = ModelSession(ctx, loader or default_loader(ctx), parent=self)
        self.conversation: Conversation | None = None
        self.editing_id: int | None = None
        self.reply: ReplyStream | None = None
        self._closed = False

        self.side = ChatList()
        self.search, self.chat_list = self.side.search, self.side.list
        self.new_button, self.rename_button = self.side.new_button, self.side.rename_button
        self.delete_button, self.export_button = self.side.delete_button, self.side.export_button

        # ---- centre: model bar, transcript, composer ----
        self.model_box = ModelBox(ctx, tasks=(Task.TEXT_GENERATION,), default_id=DEFAULT_CHAT_MODEL,
                                  default_name="SmolLM2-135M-Instruct", settings_key="chat/model",
                                  hint="No model loaded yet: it loads with your first message.")
        self.model_box.bind(self.session, describe_engine)
        self.model_status = self.model_box.status
        self.settings_button = QToolButton(text="Settings")
        self.settings_button.setCheckable(True)
        self.settings_button.setChecked(True)
        title = QLabel("Chat", objectName="pageTitle")
        bar = QHBoxLayout()
        bar.addWidget(title)
        bar.addSpacing(16)
        bar.addWidget(self.model_box)
        bar.addStretch(1)
        bar.addWidget(self.settings_button)
        self.transcript = Transcript()
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.compose = ComposeBar()
        self.composer, self.send_button = self.compose.composer, self.compose.send_button
        self.stop_button, self.regen_button = self.compose.stop_button, self.compose.regen_button
        self.cancel_edit_button = self.compose.cancel_edit_button
        centre = QWidget()
        clay = QVBoxLayout(centre)
        clay.setContentsMargins(12, 12, 12, 8)
        clay.addLayout(bar)
        clay.addWidget(self.model_status)
        clay.addWidget(self.transcript, 1)
        clay.addWidget(self.notice)
        clay.addWidget(self.compose)

        self.settings_box = SettingsBox()
        self.compare = ComparePane(ctx, loader or default_loader(ctx), self.settings_box, hide=(
            self.side, self.model_box, self.model_status, self.transcript, self.compose))  # Compare mode
        bar.insertWidget(bar.count() - 1, self.compare.toggle)
        clay.insertWidget(2, self.compare, 1)
        self.settings_panel = settings_scroll = self.settings_box.in_scroll_area()

        # the side columns keep their widths whatever the centre shows (a load's progress bar,
        # a long status line): only the centre grows and shrinks
        split = QSplitter()
        split.setChildrenCollapsible(False)
        split.addWidget(self.side)
        split.addWidget(centre)
        split.addWidget(settings_scroll)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(2, 0)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.attachments = ChatAttachments(self)  # attached files: chips, drops, sources, links
        self.compare.toggle.toggled.connect(self.attachments.bar.suppress)

        # ---- wiring ----
        self.search.textChanged.connect(self.refresh_list)
        self.chat_list.currentItemChanged.connect(self._on_chat_selected)
        self.new_button.clicked.connect(self.new_chat)
        self.rename_button.clicked.connect(self._rename_dialog)
        self.delete_button.clicked.connect(self._delete_dialog)
        self.side.export_requested.connect(self.export_dialog)
        self.side.bind_training(ctx, self.store)  # "Use as training data…"
        self.transcript.copy_requested.connect(self.copy_text)
        self.transcript.edit_requested.connect(self.start_edit)
        self.composer.textChanged.connect(self._update_buttons)
        self.composer.submit.connect(self.send_from_composer)
        self.send_button.clicked.connect(self.send_from_composer)
        self.stop_button.clicked.connect(self.stop)
        self.regen_button.clicked.connect(self.regenerate)
        self.cancel_edit_button.clicked.connect(self._cancel_edit)
        self.settings_button.toggled.connect(self.settings_panel.setVisible)
        self.settings_box.changed.connect(self._save_settings)
        self.settings_box.context_cap.setValue(int(ctx.settings.get("chat/context_cap", 0) or 0))
        self.settings_box.context_cap.valueChanged.connect(
            lambda v: ctx.settings.set("chat/context_cap", v))
        self.model_box.picked.connect(self._on_model_picked)
        self.model_box.listed.connect(self._sync_defaults)
        self.session.loaded.connect(self._sync_defaults)
        self.session.loading.connect(self._update_buttons)
        self.session.idle.connect(self._update_buttons)
        self.session.loaded.connect(self._sync_beam)
        self.model_box.picked.connect(self._sync_beam)
        self.model_box.listed.connect(self._sync_beam)
        QShortcut(QKeySequence("Ctrl+N"), self, self.new_chat)
        QShortcut(QKeySequence("Escape"), self, self.stop)

        self.refresh_list()
        self._sync_defaults()
        if self.chat_list.count():
            self.chat_list.setCurrentRow(0)
        self._update_buttons()
        self._sync_beam()

    @property
    def views(self):
        return self.transcript.views

    @property
    def model(self):
        return self.session.model

    # ---- models --------------------------------------------------------------------------
    def select_model(self, model_id: str) -> None:
        """Pick a model by registry id (e.g. a run the Fine-tune page just finished)."""
        self.model_box.select(model_id)

    def _sync_beam(self, *_args) -> None:
        self.settings_box.set_beam_allowed(not picks_llama(self.model_box, self.session))

    def _sync_defaults(self, *_args, force: bool = False) -> None:
        """The presets follow the picked model's defaults (the CLI's); a new chat whose settings
        were not changed by hand (still Balanced) takes them."""
        untouched = self.settings_box.current_preset() == "balanced"
        self.settings_box.set_defaults(picked_defaults(self.model_box, self.session),
                                       apply=self.conversation is None and (force or untouched))

    def _on_model_picked(self, model_id: str) -> None:
        self._sync_defaults(force=True)
        if self.conversation is not None:
            self.store.update(self.conversation.id, model_id=model_id)
        if self.session.model is not None and model_id != self.session.model_id:
            self.model_box.set_note("Another model is picked: it loads with the next message.")

    # ---- conversations ---------------------------------------------------------------------
    # ---- sending ---------------------------------------------------------------------------
    def busy(self) -> bool:
        return self.reply is not None or self.session.busy

    def _update_buttons(self, *_args) -> None:
        busy = self.busy()
        self.send_button.setEnabled(bool(self.composer.toPlainText().strip()) and not busy)
        self.send_button.setText("Resubmit" if self.editing_id else "Send")
        self.stop_button.setVisible(busy)
        self.send_button.setVisible(not busy)
        # regenerate the last reply, or retry a message that got none (e.g. the load failed)
        self.regen_button.setEnabled(bool(self.views) and not busy)
        self.side.set_enabled(has_chat=self.conversation is not None,
                              generating=self.reply is not None, busy=busy)
        self.model_box.combo.setEnabled(not busy)

    def start_edit(self, message_id: int) -> None:
        if self.busy() or message_id < 0:
            return
        view = self.transcript.find(message_id)
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
                title_from(text), model_id=self.model_box.current_id(),
                system_prompt=s.system.toPlainText(), settings=s.values().to_dict())
            self.refresh_list()
        if self.editing_id is not None:
            self._truncate_from(self.editing_id)
            self.editing_id = None
            self.cancel_edit_button.hide()
            self.notice.hide()
        message = self.store.add_message(self.conversation.id, "user", text)
        self.transcript.add("user", text, {}, message.id)
        self.composer.clear()
        self.refresh_list()
        self._answer()

    def _truncate_from(self, message_id: int) -> None:
        self.store.delete_from(message_id)
        self.transcript.remove_from(message_id)

    def regenerate(self) -> None:
        if self.busy() or not self.views:
            return
        if self.views[-1].role == "assistant":
            self._truncate_from(self.views[-1].message_id)
        self._answer()

    def _answer(self) -> None:
        cap = self.settings_box.context_cap.value() or None  # a change loads the model again
        self.session.ensure(self.model_box.current_id(), self._start_reply,
                            label=self.model_box.current_name(), options=cap)
        self._update_buttons()

    def _start_reply(self, engine) -> None:
        if self.conversation is None or self._closed:
            return
        settings = self.settings_box.values()
        history = [{"role": m.role, "content": m.content}
                   for m in self.store.messages(self.conversation.id)
                   if m.role in ("user", "assistant")]
        request = ChatRequest(tuple(history), self.settings_box.system.toPlainText(), settings)
        try:
            request.validate()
        except BadInput as exc:
            self.ctx.notify.show_error(exc)
            return
        name = engine.info.name
        message = self.store.add_message(self.conversation.id, "assistant", "",
                                         {"model": name, "partial": True})
        view = self.transcript.add("assistant", "", {}, message.id)
        self.reply = ReplyStream(self.ctx, self.store, view, message.id, name, parent=self)
        self.reply.truncated.connect(self._show_notice)
        self.reply.finished.connect(self._on_reply_finished)
        self.reply.start(engine, request, self.attachments.stream_for(engine, view))
        self._update_buttons()

    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()

    def _on_reply_finished(self, stats) -> None:
        self.reply.deleteLater()
        self.reply = None
        self.refresh_list()
        self._update_buttons()
        self.reply_finished.emit(stats)

    def stop(self) -> None:
        """Stop generating (the partial reply stays) or cancel a model load."""
        self.compare.stop()
        if self.reply is not None:
            self.reply.stop()
        elif self.session.busy:
            self.session.cancel()

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """On quit: what was shown of a reply in progress is saved, then the store closes."""
        if self._closed:
            return
        self._closed = True
        self.compare.shutdown()
        self.session.shutdown()
        if self.reply is not None:
            self.reply.stop()
            self.reply.save_and_close()
        self.store.close()
