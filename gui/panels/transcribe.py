"""Transcribe page: a queue of audio files, Whisper engines, a segment viewer, exports, recording."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.cancel import CancelToken
from core.errors import BadInput
from core.events import Done, Event, Progress
from core.models.registry import Format, ModelEntry, Task
from core.transcribe import (
    AUDIO_SUFFIXES,
    DEFAULT_FASTER_MODEL,
    BackendCache,
    Segment,
    TranscribeOptions,
    Transcript,
    export,
    to_txt,
)
from gui.context import AppContext
from gui.jobs import Job

QUEUE_COLUMNS = ("File", "Duration", "Status", "Progress", "RTF")
SEGMENT_COLUMNS = ("Start", "End", "Text")
LANGUAGES = [("Detect", None), ("English", "en"), ("French", "fr"), ("German", "de"),
             ("Spanish", "es"), ("Italian", "it"), ("Portuguese", "pt"), ("Dutch", "nl"),
             ("Polish", "pl"), ("Russian", "ru"), ("Ukrainian", "uk"), ("Chinese", "zh"),
             ("Japanese", "ja"), ("Korean", "ko"), ("Arabic", "ar"), ("Hindi", "hi"),
             ("Turkish", "tr")]
OPENAI_NAMES = ("tiny.en", "base.en", "small.en", "medium.en", "tiny", "base", "small", "medium",
                "large-v3", "turbo")


def clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:05.2f}" if h else f"{m:02d}:{s:05.2f}"


@dataclass
class QueueItem:
    path: str
    status: str = "Queued"
    duration: float | None = None
    transcript: Transcript | None = None
    segments: list | None = None  # live segments while running
    job: Job | None = None
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.status in ("Done", "Failed", "Cancelled")


def transcribe_job(path, options, cache):
    from core.transcribe import transcribe_file

    return lambda cancel: transcribe_file(path, options, cancel, cache)


def decode_job(path):
    def run(cancel):
        from core.transcribe import decode

        yield Done(result=decode(path))

    return run


class TranscribePanel(QWidget):
    item_finished = Signal(int)  # row
    queue_idle = Signal()

    def __init__(self, ctx: AppContext, stream_factory=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.stream_factory = stream_factory  # tests pass a fake microphone
        self.items: list[QueueItem] = []
        self.current: QueueItem | None = None
        self.shown: QueueItem | None = None
        self.cache = BackendCache()
        self.record_job: Job | None = None
        self.record_stop: CancelToken | None = None
        self.audio_cache: tuple[str, object] | None = None
        self.setAcceptDrops(True)

        title = QLabel("Transcribe")
        title.setObjectName("pageTitle")
        hint = QLabel("Drop audio or video files here (wav, flac, mp3, m4a, ogg, webm, mp4), or "
                      "use Open. Files run one after another.")
        hint.setObjectName("subtitle")
        hint.setWordWrap(True)

        # ---- queue ----
        self.queue = QTableWidget(0, len(QUEUE_COLUMNS))
        self.queue.setHorizontalHeaderLabels(QUEUE_COLUMNS)
        self.queue.verticalHeader().setVisible(False)
        self.queue.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.queue.setSelectionMode(QAbstractItemView.SingleSelection)
        self.queue.setEditTriggers(QAbstractItemView.NoEditTriggers)
        qh = self.queue.horizontalHeader()
        qh.setSectionResizeMode(0, QHeaderView.Stretch)
        for c in (1, 3, 4):
            qh.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        qh.setSectionResizeMode(2, QHeaderView.Interactive)
        self.queue.setColumnWidth(2, 260)
        self.open_button = QPushButton("Open files…")
        self.record_button = QPushButton("● Record")
        self.record_button.setObjectName("recordButton")
        self.level = QProgressBar()
        self.level.setRange(0, 100)
        self.level.setTextVisible(False)
        self.level.setFixedWidth(120)
        self.level.setFixedHeight(10)
        self.level.hide()
        self.record_label = QLabel()
        self.cancel_button = QPushButton("Cancel selected")
        self.cancel_all_button = QPushButton("Cancel all")
        self.clear_button = QPushButton("Clear finished")
        qbar = QHBoxLayout()
        for w in (self.open_button, self.record_button, self.level, self.record_label):
            qbar.addWidget(w)
        qbar.addStretch(1)
        for w in (self.cancel_button, self.cancel_all_button, self.clear_button):
            qbar.addWidget(w)

        # ---- options ----
        self.engine = QComboBox()
        self.engine.addItem("faster-whisper (CTranslate2)", "faster-whisper")
        self.engine.addItem("openai-whisper", "openai-whisper")
        self.model = QComboBox()
        self.model.setMinimumWidth(200)
        self.language = QComboBox()
        for label, code in LANGUAGES:
            self.language.addItem(label, code)
        self.task = QComboBox()
        self.task.addItem("Transcribe", "transcribe")
        self.task.addItem("Translate to English", "translate")
        self.beam = QSpinBox(minimum=1, maximum=20, value=5)
        self.words = QCheckBox("Word timestamps")
        self.vad = QCheckBox("Skip silence (VAD)")
        self.prompt = QLineEdit(placeholderText="Initial prompt: names, spellings, style…")
        opts = QGroupBox("Options")
        form = QFormLayout(opts)
        row1 = QHBoxLayout()
        row1.addWidget(self.engine)
        row1.addWidget(QLabel("Model"))
        row1.addWidget(self.model, 1)
        form.addRow("Engine", row1)
        row2 = QHBoxLayout()
        row2.addWidget(self.language)
        row2.addWidget(QLabel("Task"))
        row2.addWidget(self.task)
        row2.addWidget(QLabel("Beam size"))
        row2.addWidget(self.beam)
        row2.addWidget(self.words)
        row2.addWidget(self.vad)
        row2.addStretch(1)
        form.addRow("Language", row2)
        form.addRow("Prompt", self.prompt)

        # ---- viewer ----
        self.viewer_title = QLabel("Select a file to see its transcript.")
        self.viewer_title.setObjectName("viewerTitle")
        self.search = QLineEdit(placeholderText="Search the transcript…")
        self.search.setClearButtonEnabled(True)
        self.segments = QTableWidget(0, len(SEGMENT_COLUMNS))
        self.segments.setHorizontalHeaderLabels(SEGMENT_COLUMNS)
        self.segments.verticalHeader().setVisible(False)
        self.segments.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.segments.setWordWrap(True)
        sh = self.segments.horizontalHeader()
        sh.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        sh.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        sh.setSectionResizeMode(2, QHeaderView.Stretch)
        self.segments.setEditTriggers(QAbstractItemView.DoubleClicked |
                                      QAbstractItemView.EditKeyPressed)
        self.segments.setToolTip("Click a segment to play it; double-click its text to edit.")
        self.copy_button = QPushButton("Copy all")
        self.stop_play_button = QPushButton("■ Stop playback")
        self.export_buttons = {fmt: QPushButton(fmt.upper()) for fmt in ("txt", "srt", "vtt", "json")}
        self.export_folder_button = QPushButton("Export folder…")
        vbar = QHBoxLayout()
        vbar.addWidget(self.viewer_title, 1)
        vbar.addWidget(self.search)
        ebar = QHBoxLayout()
        ebar.addWidget(self.copy_button)
        ebar.addWidget(self.stop_play_button)
        ebar.addStretch(1)
        ebar.addWidget(QLabel("Export"))
        for b in self.export_buttons.values():
            ebar.addWidget(b)
        ebar.addWidget(self.export_folder_button)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(qbar)
        tl.addWidget(self.queue, 1)
        tl.addWidget(opts)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addLayout(vbar)
        bl.addWidget(self.segments, 1)
        bl.addLayout(ebar)
        split = QSplitter(Qt.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([330, 300])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 12)
        lay.addWidget(title)
        lay.addWidget(hint)
        lay.addWidget(split, 1)

        # ---- wiring ----
        self.open_button.clicked.connect(self._open_dialog)
        self.record_button.clicked.connect(self.toggle_recording)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.clear_button.clicked.connect(self.clear_finished)
        self.queue.itemSelectionChanged.connect(self._on_queue_selection)
        self.engine.currentIndexChanged.connect(self._fill_models)
        self.search.textChanged.connect(self._filter_segments)
        self.segments.itemChanged.connect(self._on_segment_edited)
        self.segments.cellClicked.connect(self._on_segment_clicked)
        self.copy_button.clicked.connect(self.copy_all)
        self.stop_play_button.clicked.connect(self._stop_playback)
        for fmt, b in self.export_buttons.items():
            b.clicked.connect(lambda _=False, f=fmt: self.export_current(f))
        self.export_folder_button.clicked.connect(self._choose_export_folder)
        self.model_entries: list[ModelEntry] = []
        self._restore_options()
        self._fill_models()
        self._update_buttons()

    # ---- options ---------------------------------------------------------------------------
    def _restore_options(self) -> None:
        s = self.ctx.settings
        self.engine.setCurrentIndex(max(0, self.engine.findData(s.get("transcribe/engine",
                                                                       "faster-whisper"))))
        self.language.setCurrentIndex(max(0, self.language.findData(s.get("transcribe/language"))))
        self.beam.setValue(int(s.get("transcribe/beam", 5) or 5))
        self.words.setChecked(s.get("transcribe/words", "false") in (True, "true"))
        self.vad.setChecked(s.get("transcribe/vad", "false") in (True, "true"))

    def _save_options(self) -> None:
        s = self.ctx.settings
        s.set("transcribe/engine", self.engine.currentData())
        s.set("transcribe/model", self.model.currentData() or self.model.currentText())
        s.set("transcribe/language", self.language.currentData() or "")
        s.set("transcribe/beam", self.beam.value())
        s.set("transcribe/words", "true" if self.words.isChecked() else "false")
        s.set("transcribe/vad", "true" if self.vad.isChecked() else "false")

    def set_models(self, entries: list[ModelEntry]) -> None:
        self.model_entries = [e for e in entries if e.task is Task.SPEECH_RECOGNITION]
        self._fill_models()

    def _fill_models(self) -> None:
        engine = self.engine.currentData()
        saved = self.ctx.settings.get("transcribe/model", "")
        self.model.blockSignals(True)
        self.model.clear()
        if engine == "faster-whisper":
            self.model.setEditable(False)
            entries = [e for e in self.model_entries if e.format is Format.CT2]
            if not entries:
                self.model.addItem("Whisper tiny.en", DEFAULT_FASTER_MODEL)
            for e in entries:
                self.model.addItem(e.name + ("" if e.load_path else "  (download)"), e.id)
        else:
            self.model.setEditable(True)
            for e in self.model_entries:
                if e.format is Format.WHISPER_PT and e.path:
                    self.model.addItem(e.name, e.path)
            for name in OPENAI_NAMES:
                self.model.addItem(f"{name}  (download)", name)
        idx = self.model.findData(saved)
        self.model.setCurrentIndex(max(0, idx))
        self.model.blockSignals(False)

    def options(self) -> TranscribeOptions:
        model = self.model.currentData()
        if self.model.isEditable():
            typed = self.model.currentText().replace("(download)", "").strip()
            if typed and self.model.findText(self.model.currentText()) < 0:
                model = typed
        return TranscribeOptions(
            engine=self.engine.currentData(), model=model or None,
            language=self.language.currentData(), task=self.task.currentData(),
            beam_size=self.beam.value(), word_timestamps=self.words.isChecked(),
            vad_filter=self.vad.isChecked(), initial_prompt=self.prompt.text().strip() or None,
            device=self.ctx.settings.get("device/preference", "auto") or "auto")

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
        rows = []
        for p in paths:
            path = Path(p)
            if path.is_dir():
                rows += self.add_files(sorted(str(f) for f in path.iterdir()
                                              if f.suffix.lower() in AUDIO_SUFFIXES))
                continue
            item = QueueItem(str(path))
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                item.status = "Failed"
                item.error = (f"Unsupported file type '{path.suffix or path.name}'. Supported: "
                              + ", ".join(s.lstrip('.') for s in AUDIO_SUFFIXES[:8]) + "…")
            self.items.append(item)
            row = self.queue.rowCount()
            self.queue.insertRow(row)
            name = QTableWidgetItem(path.name)
            name.setToolTip(str(path))
            self.queue.setItem(row, 0, name)
            for c in (1, 2, 4):
                self.queue.setItem(row, c, QTableWidgetItem(""))
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(0)
            bar.setFormat("%p%")
            self.queue.setCellWidget(row, 3, bar)
            self._show_row(row)
            rows.append(row)
        if rows and self.queue.currentRow() < 0:
            self.queue.selectRow(rows[0])
        self._pump()
        return rows

    def _show_row(self, row: int) -> None:
        item = self.items[row]
        self.queue.item(row, 1).setText(clock(item.duration) if item.duration else "")
        status = item.status if not item.error else f"{item.status}: {item.error}"
        cell = self.queue.item(row, 2)
        cell.setText(status)
        cell.setToolTip(status)
        cell.setForeground(Qt.darkRed if item.status == "Failed" else Qt.black)
        rtf = item.transcript.rtf if item.transcript else None
        self.queue.item(row, 4).setText(f"{rtf:.3f}" if rtf is not None else "")
        if item.status == "Done":
            self.queue.cellWidget(row, 3).setValue(1000)
        self._update_buttons()

    # ---- running the queue -----------------------------------------------------------------
    def _pump(self) -> None:
        if self.current is not None:
            return
        nxt = next((i for i in self.items if i.status == "Queued"), None)
        if nxt is None:
            self._update_buttons()
            self.queue_idle.emit()
            return
        self._save_options()
        row = self.items.index(nxt)
        nxt.status = "Running"
        nxt.segments = []
        self.current = nxt
        nxt.job = self.ctx.runner.start(f"Transcribing {Path(nxt.path).name}",
                                        transcribe_job(nxt.path, self.options(), self.cache))
        nxt.job.event.connect(lambda ev, it=nxt: self._on_event(it, ev))
        nxt.job.failed.connect(lambda exc, it=nxt: self._on_failed(it, exc))
        nxt.job.cancelled.connect(lambda it=nxt: self._on_cancelled(it))
        nxt.job.finished.connect(lambda it=nxt: self._on_finished(it))
        self._show_row(row)
        if self.shown is nxt:
            self._show_transcript(nxt)

    def _row(self, item: QueueItem) -> int:
        return self.items.index(item)

    def _on_event(self, item: QueueItem, ev: Event) -> None:
        if item not in self.items:
            return
        row = self._row(item)
        if isinstance(ev, Progress):
            if ev.stage == "Transcribing" and ev.total:
                item.duration = ev.total
                self.queue.cellWidget(row, 3).setValue(int((ev.fraction or 0) * 1000))
                item.status = "Running"
            else:
                item.status = ev.stage
            self._show_row(row)
        elif isinstance(ev, Segment):
            item.segments.append(ev)
            if self.shown is item:
                self._append_segment_row(len(item.segments) - 1, ev)
        elif isinstance(ev, Done):
            item.transcript = ev.result
            item.duration = ev.result.duration
            item.status = "Done"
            self._show_row(row)
            if self.shown is item:
                self._show_transcript(item)

    def _on_failed(self, item: QueueItem, exc: BaseException) -> None:
        from core.errors import describe

        item.status = "Failed"
        item.error = describe(exc)[1]
        if item in self.items:
            self._show_row(self._row(item))

    def _on_cancelled(self, item: QueueItem) -> None:
        item.status = "Cancelled"
        if item in self.items:
            self._show_row(self._row(item))

    def _on_finished(self, item: QueueItem) -> None:
        item.job = None
        if self.current is item:
            self.current = None
        if item in self.items:
            self.item_finished.emit(self._row(item))
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
        elif item.status == "Queued":
            item.status = "Cancelled"
        self._show_row(row)

    def cancel_all(self) -> None:
        for row, item in enumerate(self.items):
            if not item.finished:
                self.cancel_row(row)

    def clear_finished(self) -> None:
        for row in reversed(range(len(self.items))):
            if self.items[row].finished:
                if self.shown is self.items[row]:
                    self.shown = None
                    self.segments.setRowCount(0)
                del self.items[row]
                self.queue.removeRow(row)
        self._update_buttons()

    def _update_buttons(self) -> None:
        active = any(not i.finished for i in self.items)
        self.cancel_all_button.setEnabled(active)
        row = self.queue.currentRow()
        self.cancel_button.setEnabled(0 <= row < len(self.items) and not self.items[row].finished)
        self.clear_button.setEnabled(any(i.finished for i in self.items))
        has_text = self.shown is not None and self.shown.transcript is not None
        for b in (*self.export_buttons.values(), self.copy_button):
            b.setEnabled(has_text)

    # ---- viewer ----------------------------------------------------------------------------
    def _on_queue_selection(self) -> None:
        row = self.queue.currentRow()
        self._update_buttons()
        if 0 <= row < len(self.items):
            self._show_transcript(self.items[row])

    def _segments_of(self, item: QueueItem) -> list:
        return item.transcript.segments if item.transcript else (item.segments or [])

    def _show_transcript(self, item: QueueItem) -> None:
        self.shown = item
        name = Path(item.path).name
        if item.transcript:
            t = item.transcript
            self.viewer_title.setText(f"{name} · {clock(t.duration)} · {len(t.segments)} segments"
                                      f" · {t.engine} {Path(t.model).name} · RTF {t.rtf:.3f}")
        elif item.status == "Failed":
            self.viewer_title.setText(f"{name}: {item.error}")
        else:
            self.viewer_title.setText(f"{name} · {item.status}")
        self.segments.blockSignals(True)
        self.segments.setRowCount(0)
        for i, seg in enumerate(self._segments_of(item)):
            self._append_segment_row(i, seg)
        self.segments.blockSignals(False)
        self._filter_segments()
        self._update_buttons()

    def _append_segment_row(self, i: int, seg: Segment) -> None:
        blocked = self.segments.blockSignals(True)
        self.segments.insertRow(i)
        for c, text in enumerate((clock(seg.start), clock(seg.end), seg.text.strip())):
            cell = QTableWidgetItem(text)
            if c < 2:
                cell.setFlags(cell.flags() & ~Qt.ItemIsEditable)
                cell.setForeground(Qt.darkBlue)
            self.segments.setItem(i, c, cell)
        self.segments.blockSignals(blocked)
        needle = self.search.text().strip().lower()
        self.segments.setRowHidden(i, bool(needle) and needle not in seg.text.lower())

    def _filter_segments(self) -> None:
        needle = self.search.text().strip().lower()
        for r in range(self.segments.rowCount()):
            text = self.segments.item(r, 2).text().lower()
            self.segments.setRowHidden(r, bool(needle) and needle not in text)

    def _on_segment_edited(self, cell: QTableWidgetItem) -> None:
        item = self.shown
        if item is None or item.transcript is None or cell.column() != 2:
            return
        segs = item.transcript.segments
        if 0 <= cell.row() < len(segs):
            segs[cell.row()] = replace(segs[cell.row()], text=cell.text())

    def _on_segment_clicked(self, row: int, column: int) -> None:
        if column == 2 or self.shown is None:
            return  # the text column is for editing
        segs = self._segments_of(self.shown)
        if 0 <= row < len(segs):
            self.play_segment(segs[row])

    def play_segment(self, seg: Segment) -> None:
        path = self.shown.path
        if self.audio_cache and self.audio_cache[0] == path:
            self._play(self.audio_cache[1], seg)
            return
        job = self.ctx.runner.start("Reading audio", decode_job(path), quiet=True)
        job.event.connect(lambda ev: self._on_audio(path, ev, seg))
        job.failed.connect(self.ctx.notify.show_error)

    def _on_audio(self, path: str, ev: Event, seg: Segment) -> None:
        if isinstance(ev, Done):
            self.audio_cache = (path, ev.result)
            self._play(ev.result, seg)

    def _play(self, audio, seg: Segment) -> None:
        from core.transcribe import play

        try:
            play(audio, seg.start, seg.end)
        except Exception as exc:
            self.ctx.notify.show_error(exc)

    def _stop_playback(self) -> None:
        from core.transcribe import stop_playback

        stop_playback()

    def copy_all(self) -> None:
        if self.shown and self.shown.transcript:
            QGuiApplication.clipboard().setText(to_txt(self.shown.transcript))
            self.ctx.notify.show_info("Transcript copied to the clipboard.", timeout_ms=2000)

    def _choose_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Default export folder",
                                                  self.ctx.settings.get("transcribe/export_dir",
                                                                        ""))
        if folder:
            self.ctx.settings.set("transcribe/export_dir", folder)
            self.ctx.notify.show_info(f"Exports go to {folder} from now on.")

    def export_current(self, fmt: str, path: str | None = None) -> Path | None:
        item = self.shown
        if item is None or item.transcript is None:
            return None
        if path is None:
            folder = self.ctx.settings.get("transcribe/export_dir", "")
            if folder:
                path = str(Path(folder) / f"{Path(item.path).stem}.{fmt}")
            else:
                path, _ = QFileDialog.getSaveFileName(
                    self, "Export transcript", str(Path(item.path).with_suffix(f".{fmt}")),
                    f"{fmt.upper()} (*.{fmt})")
                if not path:
                    return None
        try:
            Path(path).write_text(export(item.transcript, fmt), encoding="utf-8")
        except (OSError, BadInput) as exc:
            self.ctx.notify.show_error(exc)
            return None
        self.ctx.notify.show_info(f"Saved {path}")
        return Path(path)

    def shutdown(self) -> None:
        """On quit (jobs already cancelled): end the engines' threads and child processes."""
        self.cache.close()

    # ---- recording -------------------------------------------------------------------------
    def toggle_recording(self) -> None:
        if self.record_job is not None:
            self.record_stop.cancel()  # stop and keep: the recording is then transcribed
            self.record_button.setText("Finishing…")
            return
        from core.transcribe import record

        stop = CancelToken()
        self.record_stop = stop
        folder = self.ctx.home.root / "recordings"
        factory = self.stream_factory
        self.record_job = self.ctx.runner.start(
            "Recording", lambda c: record(stop, c, folder, stream_factory=factory))
        self.record_job.event.connect(self._on_record_event)
        self.record_job.failed.connect(self.ctx.notify.show_error)
        self.record_job.finished.connect(self._on_record_finished)
        self.record_button.setText("■ Stop recording")
        self.level.show()
        self.record_label.setText("0:00")

    def _on_record_event(self, ev: Event) -> None:
        from core.transcribe import Level

        if isinstance(ev, Level):
            self.level.setValue(min(100, int(ev.peak * 100)))
            m, s = divmod(int(ev.elapsed), 60)
            self.record_label.setText(f"{m}:{s:02d}")
        elif isinstance(ev, Done):
            self.add_files([ev.result.path])

    def _on_record_finished(self) -> None:
        self.record_job = None
        self.record_stop = None
        self.record_button.setText("● Record")
        self.level.hide()
        self.record_label.setText("")
