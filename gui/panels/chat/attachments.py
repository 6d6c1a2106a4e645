"""The Chat page's attached files: the Attach… button and files dropped on the page, the chips
above the composer (× detaches), the job that reads them and, for a file too long to go in whole,
embeds its chunks (progress, Cancel), the answers given from them (``core.chat.answer_with_files``:
sources under each answer), ``[mm:ss]`` links that open the moment on the Transcribe page, and
Ask in Chat from another page (``ChatPanel.ask_about``)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QWidget,
)

from core.chat import Attachment, Retriever, answer_with_files, read_attachment
from core.chat.attach import display_name
from core.events import Done, Progress
from gui.links import AskInChat, SegmentLink
from gui.progress import show_progress

FILE_FILTER = ("Text, Markdown, CSV or transcripts (*.txt *.md *.markdown *.csv *.tsv *.json *.log "
               "*.rst);;All files (*)")
INDEX_AT_ATTACH_CHARS = 12_000  # longer files are embedded when attached (about 3,000 tokens)


class AttachmentBar(QWidget):
    """The attached files as chips, and the progress of the job that reads them, with Cancel."""

    remove_requested = Signal(int)  # an attachment's id
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attachments")
        self.suppressed = False  # Compare mode hides the bar
        self.chips_row = QHBoxLayout()
        self.chips_row.setContentsMargins(0, 0, 0, 0)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(240)  # "Reading handbook.md: chunk 40 of 146" fits
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 2, 0, 2)
        lay.addLayout(self.chips_row)
        lay.addStretch(1)
        lay.addWidget(self.progress, 1)
        lay.addWidget(self.cancel_button)
        self.chips: list[QFrame] = []
        self.set_busy(False)
        self.set_items([])

    def set_items(self, items: list[Attachment]) -> None:
        for chip in self.chips:
            chip.setParent(None)
            chip.deleteLater()
        self.chips = []
        for a in items:
            chip = QFrame(objectName="chip")
            chip.setFrameShape(QFrame.StyledPanel)
            what = {"transcript": "transcript", "table": "table"}.get(a.kind, "text")
            stale = a.stale()
            label = QLabel(a.name + (" (changed on disk)" if stale else ""))
            label.setToolTip(f"{a.path}\n{what}, {a.lines} lines, {len(a.chunks)} chunks"
                             + (", indexed" if a.vectors is not None else "")
                             + ("\nThe file changed after it was attached: answers still use "
                                "the attached text. Detach it and attach it again to use the "
                                "new one." if stale else ""))
            remove = QToolButton(text="×")
            remove.setToolTip(f"Detach {a.name}")
            remove.clicked.connect(lambda _=False, i=a.id: self.remove_requested.emit(i))
            row = QHBoxLayout(chip)
            row.setContentsMargins(6, 0, 2, 0)
            row.addWidget(label)
            row.addWidget(remove)
            self.chips_row.addWidget(chip)
            self.chips.append(chip)
        self._sync()

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat("Reading…")
        self._sync()

    def suppress(self, on: bool) -> None:
        """Hidden whatever it holds (the page is in Compare mode, which has no attachments)."""
        self.suppressed = on
        self._sync()

    def _sync(self) -> None:
        self.setVisible(not self.suppressed and (bool(self.chips) or self.progress.isVisibleTo(self)))


class ChatAttachments(QObject):
    """What the Chat page does with files. ``attached`` is emitted when an attach job ends."""

    attached = Signal(bool)  # True: the files were attached

    def __init__(self, panel, retriever: Retriever | None = None) -> None:
        super().__init__(panel)
        self.panel, self.ctx, self.store = panel, panel.ctx, panel.store
        self._retriever = retriever
        self.items: list[Attachment] = []
        self.job = None
        self._saved: list[Attachment] | None = None
        self.bar = AttachmentBar()
        layout = panel.compose.parentWidget().layout()
        layout.insertWidget(layout.indexOf(panel.compose), self.bar)
        self.bar.remove_requested.connect(self.remove)
        self.bar.cancel_requested.connect(self.cancel)
        panel.compose.attach_button.clicked.connect(self.choose_files)
        panel.transcript.moment_clicked.connect(self.open_moment)
        panel.setAcceptDrops(True)
        panel.installEventFilter(self)

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:  # MiniLM loads when first needed, then stays loaded
            device = self.ctx.settings.get("device/preference", "auto") or "auto"
            self._retriever = Retriever.bundled(self.ctx.registry, device)
        return self._retriever

    def transcript(self) -> Attachment | None:
        return next((a for a in self.items if a.kind == "transcript"), None)

    # ---- the conversation's files --------------------------------------------------------
    def show_conversation(self, conv_id: int | None) -> None:
        """The chips and links of the conversation now shown (None: a new chat)."""
        self.items = [] if conv_id is None else self.store.attachments.of(conv_id)
        self.bar.set_items(self.items)
        links = self.transcript() is not None
        for view in self.panel.views:
            if view.role == "assistant":
                view.set_moment_links(links)

    def choose_files(self) -> None:
        start = self.ctx.settings.get("chat/attach_dir", str(Path.home()))
        paths, _ = QFileDialog.getOpenFileNames(self.panel, "Attach files", start, FILE_FILTER)
        if paths:
            self.ctx.settings.set("chat/attach_dir", str(Path(paths[0]).parent))
            self.attach(paths)

    def attach(self, paths: list, then: Callable[[], None] | None = None) -> None:
        """Read the files (and index the long ones) in a job, then save them with the chat; a new
        chat is opened, called after the first file, when none is shown."""
        if self.job is not None:
            self.ctx.notify.show_info("Files are still being attached: wait or cancel.")
            return
        if self.panel.conversation is None:
            self.panel.open_new_chat(self.panel.model_box.current_id(), display_name(paths[0]))
        if self.panel.conversation is None:  # busy: the page refused
            return
        conv_id, store, retriever = self.panel.conversation.id, self.store, self.retriever
        paths = [Path(p) for p in paths]

        def work(cancel):
            saved = []
            for i, path in enumerate(paths):
                yield Progress(f"Reading {path.name}", i, len(paths))
                a = read_attachment(path)
                if len(a.text) > INDEX_AT_ATTACH_CHARS and len(a.chunks) > 1:
                    for ev in retriever.index(a, cancel):
                        if isinstance(ev, Done):
                            a = ev.result
                        else:
                            yield ev
                cancel.raise_if_cancelled()
                saved.append(store.attachments.add(conv_id, a))
            yield Done(result=saved, summary=f"Attached {len(saved)} file(s).")

        self.bar.set_busy(True)
        self.job = self.ctx.runner.start("Attaching files", work)
        self.job.event.connect(self._on_event)
        self.job.finished.connect(lambda: self._on_finished(conv_id, then))

    def _on_event(self, ev) -> None:
        if isinstance(ev, Progress):
            show_progress(self.bar.progress, ev)
        elif isinstance(ev, Done):
            self._saved = ev.result

    def _on_finished(self, conv_id: int, then) -> None:
        ok = self.job is not None and self.job.error is None and bool(self._saved)
        self.job, self._saved = None, None
        self.bar.set_busy(False)
        if self.panel.conversation is not None and self.panel.conversation.id == conv_id:
            self.show_conversation(conv_id)
        self.attached.emit(bool(ok))
        if ok and then is not None:
            then()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def remove(self, attachment_id: int) -> None:
        self.store.attachments.remove(attachment_id)
        self.show_conversation(self.panel.conversation.id if self.panel.conversation else None)

    # ---- answering -------------------------------------------------------------------------
    def stream_for(self, engine, view):
        """The events of an answer given the attached files (None: no file attached)."""
        if not self.items:
            return None
        view.set_moment_links(self.transcript() is not None)
        items, retriever, store = list(self.items), self.retriever, self.store

        def indexed(a: Attachment) -> None:  # embedded at question time: kept for the next one
            store.attachments.set_vectors(a)

        return lambda request, cancel: answer_with_files(engine, retriever, request, items, cancel,
                                                         indexed=indexed)

    def open_moment(self, seconds: float) -> None:
        transcript = self.transcript()
        if transcript is not None:
            self.ctx.links.open_segment.emit(SegmentLink(transcript.path, seconds))

    def ask_about(self, request: AskInChat) -> None:
        """A new chat titled after the file, the file attached, and the question asked."""
        if self.panel.busy() or self.job is not None:
            self.ctx.notify.show_info("The Chat page is busy: try again when the reply ends.")
            return
        if request.model_id:
            self.panel.select_model(request.model_id)
        self.panel.open_new_chat(self.panel.model_box.current_id(),
                                 request.title or display_name(request.path))
        question = request.question.strip()
        self.attach([request.path], then=(lambda: self._ask(question)) if question else None)

    def _ask(self, question: str) -> None:
        if self.panel.busy():  # something started meanwhile: the question waits in the box
            self.panel.composer.setPlainText(question)
        else:
            self.panel.send(question)

    # ---- drops ---------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:
        if event.type() in (QEvent.DragEnter, QEvent.DragMove):
            if _local_files(event.mimeData()):
                event.acceptProposedAction()
                return True
        elif event.type() == QEvent.Drop:
            paths = _local_files(event.mimeData())
            if paths:
                event.acceptProposedAction()
                self.attach(paths)
                return True
        return super().eventFilter(obj, event)


def _local_files(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and Path(u.toLocalFile()).is_file()]
