"""The Summary pane beside the transcript: a chat model picker (remembered in the settings),
Summarise (core.chat.summarize: a transcript of any length, split on segment boundaries) in a
job with progress and Cancel, the summary streaming in, kept in the transcript's JSON (so it
shows again after a restart), Copy and Export. Its bar also holds the transcript's requests to
other pages: Ask in Chat and Use as training data… (the page answers ``ask`` and ``train``)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.chat import DEFAULT_CHAT_MODEL
from core.events import Done, Event, Progress
from core.models.registry import Task
from gui.panels.transcribe.kept import snapshot
from gui.progress import show_progress
from gui.widgets.model_box import ModelBox
from gui.widgets.model_session import ModelSession

if TYPE_CHECKING:
    from core.cancel import CancelToken
    from core.transcribe import SavedSummary, Transcript
    from gui.panels.transcribe.kept import KeptTranscripts
    from gui.panels.transcribe.queue import QueueItem

# The Chat page's session kind (its default_loader opens the same engine with the same
# arguments): the two pages share one loaded chat model through ctx.model_cache.
CHAT_KIND = "gui.panels.chat.loaded.default_loader.<locals>.load"
NO_SUMMARY = "No summary yet: pick a chat model and press Summarise."


def chat_opener(ctx) -> Callable[[str, str, CancelToken], Iterator[Event]]:
    def load(model_id: str, device: str, cancel: CancelToken) -> Iterator[Event]:
        from core.chat import open_chat

        return open_chat(ctx.registry, model_id, device, cancel, max_context=None)

    return load


def summary_job(engine, transcript: Transcript, path: Path, previous: SavedSummary | None,
                model: str) -> Callable[[CancelToken], Iterator[Event]]:
    """Keep the transcript as shown now (with the summary it had), summarise what was kept
    (the pieces ``python main.py summarize`` reads from it), then keep it with the new summary.
    Progress and the final answer's Tokens pass through; Done(result=SavedSummary)."""

    def run(cancel: CancelToken) -> Iterator[Event]:
        from core.chat.summarize import pieces_of, summarize
        from core.transcribe import SavedSummary, save_transcript

        save_transcript(path, transcript, previous)
        pieces, what = pieces_of(path)
        for ev in summarize(engine, pieces, cancel, what=what):
            if isinstance(ev, Done):
                s = ev.result
                saved = SavedSummary(s.text, model, s.parts, s.passes)
                save_transcript(path, transcript, saved)
                yield Done(result=saved, summary=ev.summary)
                return
            yield ev

    return run


def describe_engine(engine) -> str:
    info = engine.info
    return f"{info.name} · {info.line()}"


class SummaryPane(QWidget):
    ask = Signal()  # Ask in Chat about the shown transcript
    train = Signal()  # Use the shown transcript as training data
    summarised = Signal(object)  # the QueueItem whose summary was written
    stopped = Signal()  # a summary run ended (written, failed or cancelled)

    def __init__(self, ctx, kept: KeptTranscripts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.kept = ctx, kept
        self.item: QueueItem | None = None  # the shown row
        self.running: QueueItem | None = None  # the row being summarised
        self.job = None
        self.partial = ""  # the streamed text of the running summary
        self.session = ModelSession(ctx, chat_opener(ctx), notify=False, parent=self,
                                    kind=CHAT_KIND)
        self.model_box = ModelBox(ctx, tasks=(Task.TEXT_GENERATION,),
                                  default_id=DEFAULT_CHAT_MODEL,
                                  default_name="SmolLM2-135M-Instruct",
                                  settings_key="transcribe/summary_model")
        self.model_box.bind(self.session, describe_engine)
        self.model_box.combo.setMinimumWidth(150)  # a narrow pane beside the transcript
        self.setMinimumWidth(300)
        self.session.failed.connect(self._on_failed)
        self.session.cancelled.connect(self._on_cancelled)
        self.session.idle.connect(self._on_load_idle)

        title = QLabel("Summary")
        title.setObjectName("viewerTitle")
        self.summarise_button = QPushButton("Summarise")
        self.summarise_button.setToolTip("Summarise the transcript with the chosen chat model, "
                                         "however long it is (part by part, then the parts).")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setPlaceholderText(NO_SUMMARY)
        self.copy_button = QPushButton("Copy")
        self.export_button = QPushButton("Export…")
        self.ask_button = QPushButton("Ask in Chat")
        self.ask_button.setToolTip("Open a chat with this transcript attached.")
        self.train_button = QPushButton("Use as training data…")
        self.train_button.setToolTip("Write the transcript's text as a raw-text corpus and open "
                                     "a new Fine-tune run with it.")

        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(self.ask_button)
        head.addWidget(self.train_button)
        run = QHBoxLayout()
        run.addWidget(self.model_box, 1)
        run.addWidget(self.summarise_button)
        run.addWidget(self.cancel_button)
        tail = QHBoxLayout()
        tail.addWidget(self.progress, 1)
        tail.addStretch(0)
        tail.addWidget(self.copy_button)
        tail.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(head)
        lay.addLayout(run)
        lay.addWidget(self.model_box.status)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.status)
        lay.addLayout(tail)

        self.summarise_button.clicked.connect(self.summarise)
        self.cancel_button.clicked.connect(self.cancel)
        self.copy_button.clicked.connect(self.copy)
        self.export_button.clicked.connect(lambda: self.export())
        self.ask_button.clicked.connect(self.ask)
        self.train_button.clicked.connect(self.train)
        self.sync(None)

    @property
    def busy(self) -> bool:
        return self.running is not None

    # ---- showing ---------------------------------------------------------------------------
    def sync(self, item: QueueItem | None) -> None:
        """Show ``item``'s summary (or the one streaming for it) and enable what it allows."""
        if item is not self.item:
            self.item = item
            if item is not None and item is self.running:
                self.text.setPlainText(self.partial)
            else:
                self.text.setPlainText(item.summary.text if item and item.summary else "")
            self._say_model()
        has = item is not None and item.transcript is not None
        self.summarise_button.setEnabled(has and not self.busy)
        self.ask_button.setEnabled(has)
        self.train_button.setEnabled(has)
        shown = bool(item is not None and item.summary is not None and item is not self.running)
        self.copy_button.setEnabled(shown)
        self.export_button.setEnabled(shown)

    def _say_model(self) -> None:
        item = self.item
        if item is not None and item is self.running:
            return
        s = item.summary if item is not None else None
        self.status.setText("" if s is None else
                            f"Written by {s.model or 'a chat model'}"
                            + (f" from {s.parts} parts in {s.passes} passes." if s.parts > 1
                               else " in one pass."))

    # ---- running ---------------------------------------------------------------------------
    def summarise(self) -> None:
        item = self.item
        if item is None or item.transcript is None or self.busy:
            return
        self.running, self.partial, self.job = item, "", None
        self.text.setPlainText("")
        self.progress.setRange(0, 0)
        self.progress.setFormat("")
        self.progress.show()
        self.cancel_button.show()
        self.status.setText("Loading the chat model…")
        self.sync(item)
        model_id, name = self.model_box.current_id(), self.model_box.current_name()
        self.session.ensure(model_id, lambda engine, it=item: self._start(it, engine, name),
                            label=name)

    def _start(self, item: QueueItem, engine, model: str) -> None:
        if self.running is not item:  # cancelled while it loaded
            return
        path = self.kept.path_for(item)
        self.status.setText(f"Summarising with {model}…")
        job = self.ctx.runner.start(
            f"Summarising {item.name}",
            summary_job(engine, snapshot(item), path, item.summary, model))
        self.job = job
        job.event.connect(lambda ev, it=item: self._on_event(it, ev))
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.finished.connect(self._stop)

    def _on_event(self, item: QueueItem, ev: Event) -> None:
        from core.chat import Token

        if isinstance(ev, Token):
            self.partial += ev.text
            if self.item is item:
                self.text.setPlainText(self.partial)
        elif isinstance(ev, Progress):
            show_progress(self.progress, ev)
            self.status.setText(ev.stage)
        elif isinstance(ev, Done):
            item.summary = ev.result
            self.kept.kept(item, self.kept.path_for(item))
            self.ctx.notify.show_info(ev.summary or "Summary written.", timeout_ms=3000)
            self.summarised.emit(item)

    def _on_failed(self, exc: BaseException) -> None:
        if self.running is None:
            return
        self.ctx.notify.show_error(exc)
        self._stop(note="The summary could not be written.")

    def _on_cancelled(self) -> None:
        if self.running is not None:
            self._stop(note="Summary cancelled.")

    def _on_load_idle(self) -> None:
        if self.running is not None and self.job is None and not self.session.busy:
            self._stop(note="The chat model was not loaded.")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
        elif self.session.busy:
            self.session.cancel()
        else:
            self._stop(note="Summary cancelled.")

    def _stop(self, note: str = "") -> None:
        if self.running is None:
            return
        item, self.running, self.job = self.running, None, None
        self.progress.hide()
        self.cancel_button.hide()
        shown, self.item = self.item, None  # shown again: its kept summary, or the old one
        self.sync(shown)
        if item.summary is None or note:
            self.status.setText(note or self.status.text())
        self.stopped.emit()

    # ---- the written summary ---------------------------------------------------------------
    def copy(self) -> None:
        if self.item is not None and self.item.summary is not None:
            QGuiApplication.clipboard().setText(self.item.summary.text)
            self.ctx.notify.show_info("Summary copied to the clipboard.", timeout_ms=2000)

    def export(self, path: str | None = None):
        """Write the shown summary as text (a dialog asks where unless ``path``); the job."""
        item = self.item
        if item is None or item.summary is None:
            return None
        if path is None:
            folder = self.ctx.settings.get("transcribe/export_dir", "") or str(
                Path(item.path).parent)
            path, _ = QFileDialog.getSaveFileName(
                self, "Export summary", str(Path(folder) / f"{Path(item.path).stem}.summary.txt"),
                "Text (*.txt);;Markdown (*.md)")
            if not path:
                return None
        text = item.summary.text.strip() + "\n"

        def run(cancel):
            from core.paths import atomic_write

            yield Done(result=atomic_write(path, text))

        job = self.ctx.runner.start(f"Exporting {Path(path).name}", run, quiet=True)
        job.event.connect(lambda ev: isinstance(ev, Done)
                          and self.ctx.notify.show_info(f"Saved {ev.result}"))
        job.failed.connect(self.ctx.notify.show_error)
        return job

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.cancel()
        self.session.shutdown()
        self.session.release()
