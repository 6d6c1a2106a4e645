"""The Chat page's conversation actions: the list, open, new, rename, delete, export, Ask in Chat
and the settings kept with a conversation (a part of ChatPanel, kept apart to stay readable)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QListWidgetItem

from core.chat import GenerationSettings
from core.errors import BadInput
from gui.links import AskInChat
from gui.panels.chat.sidebar import ask_export_path, ask_title, confirm_delete, write_export


class ConversationActions:
    """Mixed into ChatPanel: uses its store, side list, transcript, settings box and attachments."""

    def refresh_list(self) -> None:
        self.side.fill(self.store, self.conversation.id if self.conversation else None)

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
        if self.conversation.model_id and self.model_box.combo.findData(
                self.conversation.model_id) >= 0:
            self.model_box.select(self.conversation.model_id)
        self.transcript.clear()
        for m in self.store.messages(conv_id):
            if m.role in ("user", "assistant"):
                self.transcript.add(m.role, m.content, m.meta, m.id)
        self.attachments.show_conversation(conv_id)
        self._update_buttons()

    def new_chat(self) -> None:
        if self.busy():
            return
        self.conversation = None
        self.transcript.clear()
        self._cancel_edit()
        self.notice.hide()
        self.chat_list.clearSelection()
        self.chat_list.setCurrentItem(None)
        self.attachments.show_conversation(None)
        self._sync_defaults(force=True)
        self.composer.setFocus()
        self._update_buttons()

    def open_new_chat(self, model_id: str, title: str) -> None:
        """A new, empty chat called ``title`` with ``model_id`` picked (Try it on a run)."""
        if self.busy():
            return
        self.new_chat()
        self.select_model(model_id)
        s = self.settings_box
        self.conversation = self.store.create(
            title, model_id=model_id, system_prompt=s.system.toPlainText(),
            settings=s.values().to_dict())
        self.refresh_list()
        self._update_buttons()

    def _rename_dialog(self) -> None:
        title = ask_title(self, self.conversation)
        if title is not None:
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
        if confirm_delete(self, self.conversation):
            self.delete_current()

    def delete_current(self) -> None:
        if self.conversation is None or self.busy():
            return
        self.store.delete(self.conversation.id)
        self.conversation = None
        self.transcript.clear()
        self.attachments.show_conversation(None)
        self.refresh_list()
        if self.chat_list.count():
            self.chat_list.setCurrentRow(0)
        self._update_buttons()

    def ask_about(self, request: AskInChat) -> None:
        """Another page's Ask in Chat: a new chat with the file attached, the question asked."""
        self.attachments.ask_about(request)

    def export_dialog(self, kind: str) -> None:
        start = self.ctx.settings.get("chat/export_dir", str(Path.home()))
        path = ask_export_path(self, self.conversation, kind, start)
        if path:
            self.export(path, kind)

    def export(self, path: str, kind: str) -> None:
        write_export(self.ctx, self.store, self.conversation.id, path, kind)

    def _save_settings(self) -> None:
        if self.conversation is not None:
            self.store.update(self.conversation.id, settings=self.settings_box.values().to_dict(),
                              system_prompt=self.settings_box.system.toPlainText())

    def copy_text(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.ctx.notify.show_info("Copied to the clipboard.", timeout_ms=2000)

