"""The Chat page's Compare mode: one prompt, two chat models (a fine-tune run and its base, say),
two streaming columns, each with its figures line.

The two replies are generated one after the other, left then right: on a CPU two generations at
once would share its cores and halve each other's tok/s, so the figures would not compare; and
when the shared model cache has room for only one of the two models, the second loads after the
first has answered. Both get the same request: the prompt, the page's system prompt and its
generation settings (the same seed). Stop ends the reply in progress (its figures still come,
marked stopped) and keeps the other from beginning. The page's conversation is left alone:
compared replies are not saved to the history.

The page adds ``pane.toggle`` to its bar and the pane to its centre; toggling hides the widgets
of the normal chat (``hide``) and shows the pane."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.chat import ChatRequest
from core.errors import BadInput
from gui.panels.chat.compare_column import CompareColumn


class ComparePane(QWidget):
    finished = Signal(list)  # [ReplyStats | None, ReplyStats | None], once both have ended

    def __init__(self, ctx, loader, settings_box, hide: tuple[QWidget, ...] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.settings_box = settings_box
        self._hide = hide
        self.toggle = QToolButton(text="Compare")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("One prompt, two models side by side (a fine-tune run and its "
                               "base, say)")
        self.columns = [CompareColumn(ctx, loader, "chat/compare_a"),
                        CompareColumn(ctx, loader, "chat/compare_b")]
        split = QSplitter()
        split.setChildrenCollapsible(False)
        for c in self.columns:
            split.addWidget(c)
            c.finished.connect(self._on_column_finished)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("One prompt for both models…  (Ctrl+Enter compares)")
        self.prompt.setFixedHeight(72)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.note = QLabel("Both get the same prompt, system prompt and settings (Settings on "
                           "the right); left answers first, then right, so the figures compare.")
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        buttons = QVBoxLayout()
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.prompt, 1)
        bottom.addLayout(buttons)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split, 1)
        lay.addWidget(self.note)
        lay.addLayout(bottom)
        self._results: list = []
        self._index = -1  # the column answering now; -1 when idle
        self._request: ChatRequest | None = None
        self._options = None
        self._stopped = False

        self.toggle.toggled.connect(self.set_active)
        self.compare_button.clicked.connect(self.compare_from_prompt)
        self.stop_button.clicked.connect(self.stop)
        self.prompt.textChanged.connect(self._update_buttons)
        from PySide6.QtGui import QKeySequence, QShortcut

        QShortcut(QKeySequence("Ctrl+Return"), self.prompt, self.compare_from_prompt)
        self.set_active(False)

    # ---- the mode ----------------------------------------------------------------------------
    def set_active(self, on: bool) -> None:
        if self.toggle.isChecked() != on:
            self.toggle.setChecked(on)  # comes back here through toggled
            return
        for w in self._hide:
            w.setVisible(not on)
        self.setVisible(on)
        if on:
            self.prompt.setFocus()
        self._update_buttons()

    @property
    def active(self) -> bool:
        return self.toggle.isChecked()

    def busy(self) -> bool:
        return self._index >= 0

    def _update_buttons(self) -> None:
        busy = self.busy()
        self.compare_button.setEnabled(bool(self.prompt.toPlainText().strip()) and not busy)
        self.compare_button.setVisible(not busy)
        self.stop_button.setVisible(busy)
        for c in self.columns:
            c.box.combo.setEnabled(not busy)
        self.toggle.setEnabled(not busy)

    # ---- comparing ---------------------------------------------------------------------------
    def compare_from_prompt(self) -> None:
        text = self.prompt.toPlainText()
        if text.strip() and not self.busy():
            try:
                self.compare(text)
            except BadInput as exc:
                self.ctx.notify.show_error(exc)

    def compare(self, text: str) -> None:
        """Send ``text`` to both models, left then right."""
        if not text.strip():
            raise BadInput("The prompt is empty.")
        if self.busy():
            raise BadInput("A comparison is still running.", hint="Stop it or wait.")
        s = self.settings_box
        request = ChatRequest(({"role": "user", "content": text},), s.system.toPlainText(),
                              s.values())
        request.validate()
        self._request = request
        self._options = s.context_cap.value() or None  # as the page loads its own model
        self._results = [None, None]
        self._stopped = False
        for c in self.columns:
            c.clear()
        self._index = 0
        self._update_buttons()
        self.columns[0].run(request, self._options)

    def _on_column_finished(self, stats) -> None:
        i = self._index
        if i < 0:
            return
        self._results[i] = stats
        if i == 0 and not self._stopped:
            self._index = 1
            self.columns[1].run(self._request, self._options)
            return
        if i == 0:
            self.columns[1].clear("stopped before it began")
        self._index = -1
        self._update_buttons()
        self.finished.emit(list(self._results))

    def stop(self) -> None:
        """Stop both: the reply in progress ends (its figures marked stopped), the other does not
        begin."""
        if not self.busy():
            return
        self._stopped = True
        for c in self.columns:
            c.stop()

    def shutdown(self) -> None:
        self._stopped = True
        for c in self.columns:
            c.shutdown()
