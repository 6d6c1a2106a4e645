"""The Transcribe page: lays out the queue, the options, the viewer, the record and live
controls, and runs the queue one file at a time on the one model the page keeps loaded (see
engine.py); live mode (live.py) takes a row of its own on the same model. Finished transcripts
are kept on disk (kept.py) with their summaries (summary.py); requests to and from other pages
are in requests.py."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.device import DevicePreference
from core.errors import BadInput
from core.events import Done, Event, Progress
from core.transcribe import AUDIO_SUFFIXES, Segment, TranscribeOptions
from gui.links import SegmentLink
from gui.panels.transcribe import exports, requests
from gui.panels.transcribe.engine import Kept, file_job, transcriber_opener
from gui.panels.transcribe.jobs import list_audio_job
from gui.panels.transcribe.kept import KeptTranscripts
from gui.panels.transcribe.live import LiveControls
from gui.panels.transcribe.options import OptionsBox
from gui.panels.transcribe.playback import Player
from gui.panels.transcribe.queue import QueueItem, QueueTable
from gui.panels.transcribe.record import RecordControls
from gui.panels.transcribe.summary import SummaryPane
from gui.panels.transcribe.viewer import TranscriptViewer
from gui.widgets.model_session import ModelSession


class TranscribePanel(QWidget):
    item_finished = Signal(int)  # row
    queue_idle = Signal()
    exported = Signal(object)  # the Path an export was written to

    def __init__(self, ctx, stream_factory=None, parent: QWidget | None = None, *,
                 opener=None, live_stream_factory=None):
        super().__init__(parent)
        self.ctx = ctx
        self.opener = opener  # open_transcriber unless a test passes a fake
        self.items: list[QueueItem] = []
        self.current: QueueItem | None = None
        self.loading_for: QueueItem | None = None  # the item whose model is loading
        self.session = ModelSession(
            ctx, transcriber_opener(ctx.registry, opener, ctx.whisper_tokenizers), notify=False,
            parent=self)
        self.session.progress.connect(self._on_load_progress)
        self.session.failed.connect(lambda exc: self._on_failed(self.loading_for, exc))
        self.session.cancelled.connect(lambda: self._on_cancelled(self.loading_for))
        self.session.idle.connect(self._on_load_idle)
        self.destroyed.connect(self.shutdown_session)  # a page dropped without shutdown()
        self.player = Player(ctx, parent=self)
        self.kept = KeptTranscripts(ctx, parent=self)
        self.setAcceptDrops(True)

        title = QLabel("Transcribe")
        title.setObjectName("pageTitle")
        hint = QLabel("Drop audio or video files here (wav, flac, mp3, m4a, ogg, webm, mp4), or "
                      "use Open. Files run one after another.")
        hint.setObjectName("subtitle")
        hint.setWordWrap(True)

        self.queue = QueueTable()
        self.open_button = QPushButton("Open files…")
        self.recorder = RecordControls(ctx, stream_factory)
        self.live = LiveControls(self, live_stream_factory)
        self.cancel_button = QPushButton("Cancel selected")
        self.cancel_all_button = QPushButton("Cancel all")
        self.clear_button = QPushButton("Clear finished")
        qbar = QHBoxLayout()
        qbar.addWidget(self.open_button)
        qbar.addWidget(self.recorder)
        qbar.addWidget(self.live)
        qbar.addStretch(1)
        for w in (self.cancel_button, self.cancel_all_button, self.clear_button):
            qbar.addWidget(w)
        self.options_box = OptionsBox(ctx.settings)
        self.viewer = TranscriptViewer()
        self.viewer.subtitles.bind(ctx.settings)
        self.summary = SummaryPane(ctx, self.kept)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(qbar)
        tl.addWidget(self.queue, 1)
        tl.addWidget(self.options_box)
        split = QSplitter(Qt.Vertical)
        split.addWidget(top)
        below = QSplitter(Qt.Horizontal)
        below.addWidget(self.viewer)
        below.addWidget(self.summary)
        below.setStretchFactor(0, 1)  # the transcript takes what the window gains
        below.setSizes([700, 340])
        split.addWidget(below)
        split.setSizes([330, 300])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 12)
        lay.addWidget(title)
        lay.addWidget(hint)
        lay.addWidget(split, 1)

        # the widgets tests and the window reach directly
        self.segments, self.search = self.viewer.table, self.viewer.search
        self.record_button, self.level = self.recorder.button, self.recorder.level
        self.record_label = self.recorder.label

        self.open_button.clicked.connect(self._open_dialog)
        self.recorder.recorded.connect(lambda path: self.add_files([path]))
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.clear_button.clicked.connect(self.clear_finished)
        self.queue.itemSelectionChanged.connect(self._on_queue_selection)
        self.viewer.play_requested.connect(lambda seg: self.player.play(self.shown.path, seg))
        self.viewer.copy_button.clicked.connect(self.copy_all)
        self.viewer.stop_play_button.clicked.connect(self.player.stop)
        self.player.playing.connect(self.viewer.stop_play_button.setEnabled)
        for fmt, b in self.viewer.export_buttons.items():
            b.clicked.connect(lambda _=False, f=fmt: self.export_current(f))
        self.viewer.export_folder_button.clicked.connect(self._choose_export_folder)
        self.summary.ask.connect(lambda: requests.ask_in_chat(self))
        self.summary.train.connect(lambda: requests.train_on(self))
        self.summary.stopped.connect(self._update_buttons)
        self.kept.restored.connect(self.add_kept)
        self.viewer.edited.connect(self.kept.edited)  # corrections are kept on disk
        self._update_buttons()
        self.kept.restore()  # the finished rows of the last session

    @property
    def shown(self) -> QueueItem | None:
        return self.viewer.item

    @property
    def record_job(self):
        return self.recorder.job

    def set_models(self, entries) -> None:
        self.options_box.set_models(entries)

    def options(self) -> TranscribeOptions:
        device = self.ctx.settings.get("device/preference", DevicePreference.AUTO.value)
        return self.options_box.options(device or DevicePreference.AUTO.value)

    # ---- adding files ----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.add_files(paths)
            event.acceptProposedAction()

    def _open_dialog(self) -> None:
        pattern = " ".join(f"*{s}" for s in AUDIO_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open audio or video files", self.ctx.settings.get("transcribe/last_dir", ""),
            f"Audio and video ({pattern});;All files (*)")
        if paths:
            self.ctx.settings.set("transcribe/last_dir", str(Path(paths[0]).parent))
            self.add_files(paths)

    def add_files(self, paths: list[str]) -> list[int]:
        """Queue files at once; folders are listed in a job and their audio files follow."""
        rows = []
        folders = [p for p in paths if Path(p).is_dir()]
        for p in paths:
            if p in folders:
                continue
            path = Path(p)
            item = QueueItem(str(path))
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                item.status = "Failed"
                item.error = (f"Unsupported file type '{path.suffix or path.name}'. Supported: "
                              + ", ".join(s.lstrip('.') for s in AUDIO_SUFFIXES[:8]) + "…")
            self.items.append(item)
            rows.append(self.queue.add(item))
        for folder in folders:
            job = self.ctx.runner.start(f"Listing {Path(folder).name}", list_audio_job(folder),
                                        quiet=True)
            job.event.connect(lambda ev: isinstance(ev, Done) and self.add_files(ev.result))
            job.failed.connect(self.ctx.notify.show_error)
        if rows and self.queue.currentRow() < 0:
            self.queue.selectRow(rows[0])
        self._update_buttons()
        self._pump()
        return rows

    def add_kept(self, items: list[QueueItem]) -> None:
        """Finished rows read back from kept transcripts (one already on the page is skipped)."""
        for item in items:
            if not any(i.saved == item.saved for i in self.items):
                self.items.append(item)
                self.queue.add(item)
                self.kept.remember(item.saved)
        self._update_buttons()

    def _show_row(self, item: QueueItem) -> None:
        if item in self.items:
            self.queue.show_item(self.items.index(item), item)
        self._update_buttons()

    # ---- running the queue: load the model when needed, then the file ----------------------
    def _pump(self) -> None:
        if self.current is not None:
            return
        nxt = next((i for i in self.items if i.status == "Queued"), None)
        if nxt is None:
            self._update_buttons()
            self.queue_idle.emit()
            return
        self.options_box.save()
        try:
            nxt.options = self.options().validate()
        except BadInput as exc:
            self._on_failed(nxt, exc)
            QTimer.singleShot(0, self._pump)
            return
        nxt.status, nxt.segments = "Loading model", []
        self.current = self.loading_for = nxt
        self._show_row(nxt)
        if self.shown is nxt:
            self._show_transcript(nxt)
        model = self.session.model
        if model is not None and not model.alive:  # an openai-whisper child ended by a cancel
            self.session.release()
        engine, model_id, device = nxt.options.model_key
        # the page's one model: at once when loaded already, else after a load job
        self.session.ensure(model_id, lambda t, it=nxt: self._start_file(it, t),
                            label=f"{model_id} for {nxt.name}", device=device,
                            options=(engine, device))
        if not self.session.busy:  # it was loaded: no load job will end
            self.loading_for = None

    def _on_load_progress(self, ev: Progress) -> None:
        item = self.loading_for
        if item is not None and not item.finished and item.job is None:
            item.status = ev.stage
            self._show_row(item)

    def _on_load_idle(self) -> None:
        """A load job ended; an item that got no file job (failed, cancelled) is done."""
        item, self.loading_for = self.loading_for, None
        if item is not None and item.job is None and self.current is item:
            if not item.finished:
                item.status = "Cancelled"
                self._show_row(item)
            self._on_finished(item)

    def _start_file(self, item: QueueItem, transcriber) -> None:
        if item.finished or item.status == "Cancelling…" or item not in self.items:
            if not item.finished:
                item.status = "Cancelled"
            if self.loading_for is not item:  # the model was there: no load job to end it
                self._on_finished(item)
            return
        item.status = "Running"
        job = self.ctx.runner.start(f"Transcribing {item.name}",
                                    file_job(transcriber, item.path, item.options,
                                             self.kept.path_for(item)))
        item.job = job
        job.event.connect(lambda ev, it=item: self._on_event(it, ev))
        job.failed.connect(lambda exc, it=item: self._on_failed(it, exc))
        job.cancelled.connect(lambda it=item: self._on_cancelled(it))
        job.finished.connect(lambda it=item: self._on_finished(it))
        self._show_row(item)

    def _on_event(self, item: QueueItem, ev: Event) -> None:
        if item not in self.items:
            return
        row = self.items.index(item)
        if isinstance(ev, Progress):
            if ev.stage == "Transcribing" and ev.total:
                item.duration = ev.total
                self.queue.set_fraction(row, ev.fraction or 0)
                item.status = "Running"
            else:
                item.status = ev.stage
            self._show_row(item)
        elif isinstance(ev, Kept):
            self.kept.kept(item, ev.path)
        elif isinstance(ev, Segment):
            item.segments.append(ev)
            if self.shown is item:
                self.viewer.append(len(item.segments) - 1, ev)
        elif isinstance(ev, Done):
            item.transcript = ev.result
            item.duration = ev.result.duration
            item.status = "Done"
            self._show_row(item)
            if self.shown is item:
                self._show_transcript(item)

    def _on_failed(self, item: QueueItem | None, exc: BaseException) -> None:
        from core.errors import describe

        if item is None:
            return
        item.status = "Failed"
        item.error = describe(exc)[1]
        self._show_row(item)

    def _on_cancelled(self, item: QueueItem | None) -> None:
        if item is None:
            return
        item.status = "Cancelled"
        self._show_row(item)

    def _on_finished(self, item: QueueItem) -> None:
        item.job = None
        if self.current is item:
            self.current = None
        if item in self.items:
            self.item_finished.emit(self.items.index(item))
        QTimer.singleShot(0, self._pump)

    def cancel_selected(self) -> None:
        row = self.queue.currentRow()
        if 0 <= row < len(self.items):
            self.cancel_row(row)

    def cancel_row(self, row: int) -> None:
        item = self.items[row]
        if item.job is not None:
            item.job.cancel()
            item.status = "Cancelling…"
        elif item is self.loading_for and self.session.busy:
            self.session.cancel()
            item.status = "Cancelling…"
        elif item.status == "Queued":
            item.status = "Cancelled"
        self._show_row(item)

    def cancel_all(self) -> None:
        for row, item in enumerate(self.items):
            if not item.finished:
                self.cancel_row(row)

    def clear_finished(self) -> None:
        for row in reversed(range(len(self.items))):
            if self.items[row].finished:
                if self.shown is self.items[row]:
                    self.viewer.show_item(None)
                if self.items[row].saved:
                    self.kept.forget(self.items[row].saved)  # the file stays: links name it
                del self.items[row]
                self.queue.removeRow(row)
        self._update_buttons()

    def _update_buttons(self) -> None:
        active = any(not i.finished for i in self.items)
        self.cancel_all_button.setEnabled(active)
        row = self.queue.currentRow()
        self.cancel_button.setEnabled(0 <= row < len(self.items) and not self.items[row].finished)
        self.clear_button.setEnabled(any(i.finished for i in self.items))
        self.viewer.set_has_text(self.shown is not None and self.shown.transcript is not None)
        self.summary.sync(self.shown)

    def show_segment(self, request: SegmentLink) -> int | None:
        """A [mm:ss] link (gui.links): select that transcript and play the segment."""
        return requests.show_segment(self, request)

    # ---- viewer ----------------------------------------------------------------------------
    def _on_queue_selection(self) -> None:
        row = self.queue.currentRow()
        self._update_buttons()
        if 0 <= row < len(self.items):
            self._show_transcript(self.items[row])

    def _show_transcript(self, item: QueueItem) -> None:
        self.viewer.show_item(item)
        self._update_buttons()

    def copy_all(self) -> None:
        exports.copy_all(self)

    def _choose_export_folder(self) -> None:
        exports.choose_export_folder(self)

    def export_current(self, fmt: str, path: str | None = None):
        """Write the shown transcript as ``fmt`` in a job (``exported`` says where); returns the
        job, or None when there is nothing to write or the user cancelled the dialog."""
        return exports.export_current(self, fmt, path)

    def shutdown(self) -> None:
        """On quit (jobs already cancelled): corrections not yet written are written now; the
        loaded model is freed without waiting."""
        self.kept.save_edits(now=True)
        self.shutdown_session()

    def shutdown_session(self) -> None:
        self.session.shutdown()  # no load starts any more
        self.session.release()
        self.summary.shutdown()
