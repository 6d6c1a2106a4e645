"""The Classify page: per-label probabilities for one text, a whole file as a table, or a [MASK]
filled.

The model loads in a ModelSession on first use; every classification and every file read runs in
a worker. Only one job uses the model at a time: the Text tab waits while a file runs, and the
other way round. A file's table fills in batch by batch; Cancel keeps what is done, and Export
writes it with the rest left blank.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QSpinBox, QTabWidget, QVBoxLayout, QWidget

from core.cancel import CancelToken
from core.classify import BATCH_SIZE, DEFAULT_CLASSIFY_MODEL, BatchResult, InputTable
from core.errors import BadInput
from core.events import Done, Event, Progress
from core.models.registry import ModelEntry, Task
from gui.context import AppContext
from gui.jobs import Job
from gui.panels.classify.file_tab import FileTab
from gui.panels.classify.text_tab import TextTab
from gui.panels.classify.training import TrainingRows
from gui.progress import show_progress
from gui.widgets.model_box import ModelBox, hub_suffix
from gui.widgets.model_session import ModelSession

ModelLoader = Callable[[str, str, CancelToken], Iterator[Event]]
FILE_FILTER = "Texts and tables (*.txt *.csv *.tsv);;All files (*)"
CHART_EVERY_S = 0.2  # the label chart redraws at most this often while a file runs
BUSY_FILE = "A file is being classified with this model: wait for it, or cancel it."


def default_loader(ctx: AppContext) -> ModelLoader:
    def load(model_id: str, device: str, cancel: CancelToken) -> Iterator[Event]:
        from core.classify import open_classifier

        return open_classifier(ctx.registry, model_id, device, cancel)

    return load


def describe_classifier(model) -> str:
    info = model.info
    what = (f"labels: {', '.join(info.labels)}" if info.kind == "classifier"
            else f"fill-mask ({model.mask_token})")
    extra = f" · {info.note}" if info.note else ""
    calibration = getattr(model, "calibration", None)
    if calibration is not None:  # scores temperature-scaled: say so, with the ECE it gained
        extra += f" · scores calibrated: {calibration.line()}"
    return (f"{info.name} · {what} · reads {info.max_length} tokens · loaded in "
            f"{info.seconds:.1f} s · {info.device.split(':')[0].upper()}{extra}")


def entry_suffix(e: ModelEntry) -> str:
    return ("  (fill-mask)" if e.task is Task.FILL_MASK else "") + hub_suffix(e)


def classify_one(model, text: str, top_k: int):
    def work(cancel: CancelToken):
        cancel.raise_if_cancelled()
        if model.kind == "fill-mask":
            yield Done(result=model.fill(text, top_k))
        else:
            yield Done(result=model.predict([text])[0])

    return work


class ClassifyPanel(QWidget, TrainingRows):
    batch_finished = Signal(object)  # the predictions so far (None where not classified)
    text_finished = Signal(object)  # Prediction, the fills of each mask, or None (it failed)
    file_opened = Signal(object)  # the InputTable read, or None when the file cannot be used

    def __init__(self, ctx: AppContext, loader: ModelLoader | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ModelSession(ctx, loader or default_loader(ctx), parent=self)
        self.text_job: Job | None = None
        self.batch_job: Job | None = None
        self.read_job: Job | None = None
        self.table: InputTable | None = None
        self.labels: list[str] = []
        self._text_result = None
        self._counts: dict[str, int] = {}
        self._chart_at = 0.0
        self._closed = False

        self.model_box = ModelBox(ctx, tasks=(Task.TEXT_CLASSIFICATION, Task.FILL_MASK),
                                  default_id=DEFAULT_CLASSIFY_MODEL,
                                  default_name="Sentiment (MiniLM, SST-2)",
                                  settings_key="classify/model", suffix=entry_suffix,
                                  hint="The model loads with your first text.")
        self.model_box.combo.setMinimumWidth(280)
        self.model_box.bind(self.session, describe_classifier)
        self.model_status = self.model_box.status
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 512)
        self.batch_size.setValue(int(ctx.settings.get("classify/batch_size", BATCH_SIZE) or BATCH_SIZE))
        self.batch_size.setToolTip("Texts per forward pass in file mode")
        bar = QHBoxLayout()
        bar.addWidget(self.model_box)
        bar.addStretch(1)
        bar.addWidget(QLabel("Batch size"))
        bar.addWidget(self.batch_size)

        self.text_tab, self.file_tab = TextTab(), FileTab()
        t, f = self.text_tab, self.file_tab
        self.input, self.classify_button, self.top_k = t.input, t.classify_button, t.top_k
        self.bars, self.result_title, self.notice = t.bars, t.result_title, t.notice
        self.results, self.view, self.chart = f.results, f.view, f.chart
        self.column_box, self.run_button, self.cancel_button = f.column_box, f.run_button, \
            f.cancel_button
        self.export_button, self.batch_status = f.export_button, f.status
        self.tabs = QTabWidget()
        self.tabs.addTab(t, "Text")
        self.tabs.addTab(f, "File")
        title = QLabel("Classify")
        title.setObjectName("pageTitle")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 8)
        lay.addWidget(title)
        lay.addLayout(bar)
        lay.addWidget(self.model_status)
        lay.addWidget(self.tabs, 1)
        self.setAcceptDrops(True)

        self.model_box.picked.connect(self._on_model_picked)
        self.model_box.listed.connect(self._set_mode)
        self.session.loaded.connect(self._set_mode)
        for signal in (self.session.loading, self.session.idle):
            signal.connect(self._update_buttons)
        self.classify_button.clicked.connect(self.classify_text)
        self.input.textChanged.connect(self._update_buttons)
        f.open_button.clicked.connect(self._open_dialog)
        self.column_box.currentIndexChanged.connect(self._on_column_changed)
        self.run_button.clicked.connect(self.classify_file)
        self.cancel_button.clicked.connect(self.cancel_batch)
        self.export_button.clicked.connect(self._export_dialog)
        f.train_button.clicked.connect(self.train_on_results)
        self.results.relabelled.connect(self._on_relabelled)
        self.batch_size.valueChanged.connect(
            lambda v: self.ctx.settings.set("classify/batch_size", v))
        QShortcut(QKeySequence("Ctrl+Return"), self.input, self.classify_text)
        self._set_mode()
        self._update_buttons()

    @property
    def model(self):
        return self.session.model

    # ---- models --------------------------------------------------------------------------
    def select_model(self, model_id: str) -> None:
        """Pick a model by registry id (e.g. a run the Fine-tune page just finished)."""
        self.model_box.select(model_id)

    def fill_mask_mode(self) -> bool:
        s = self.session
        if s.model is not None and s.model_id == self.model_box.current_id():
            return s.model.kind == "fill-mask"
        return self.model_box.current_task() == Task.FILL_MASK.value

    def _set_mode(self, *_args) -> None:
        fill = self.fill_mask_mode()
        self.text_tab.set_fill_mask(fill)
        self.tabs.setTabEnabled(1, not fill)
        if fill:
            self.tabs.setCurrentIndex(0)

    def _on_model_picked(self, model_id: str) -> None:
        if self.session.model is not None and model_id != self.session.model_id:
            self.model_box.set_note("Another model is picked: it loads with the next text.")
        self._set_mode()
        self.text_tab.clear_result()

    def _ensure_model(self, then: Callable[[object], None]) -> None:
        self.session.ensure(self.model_box.current_id(), then, label=self.model_box.current_name())
        self._update_buttons()

    def model_in_use(self) -> bool:
        """A job is using (or about to use) the model: no second one may start on it."""
        return (self.text_job is not None or self.batch_job is not None
                or self.session.busy)

    # ---- one text ------------------------------------------------------------------------
    def classify_text(self) -> None:
        text = self.input.toPlainText()
        if not text.strip():
            self.ctx.notify.show_error(BadInput("The text is empty.",
                                                hint="Type or paste a text to classify."))
            return
        if self.batch_job is not None:
            self.ctx.notify.show_info(BUSY_FILE)
            return
        if self.model_in_use():
            return
        self._ensure_model(lambda model: self._run_text(model, text))

    def _run_text(self, model, text: str) -> None:
        if self.model_in_use() or self._closed:
            return
        self.text_job = self.ctx.runner.start("Classifying text",
                                              classify_one(model, text, self.top_k.value()))
        self.text_job.event.connect(self._on_text_done)
        self.text_job.finished.connect(self._on_text_finished)  # failures: the notification
        self._update_buttons()

    def _on_text_done(self, ev: Event) -> None:
        if isinstance(ev, Done):
            max_length = self.model.info.max_length if self.model is not None else 0
            self.text_tab.show_result(ev.result, max_length)
            self._text_result = ev.result

    def _on_text_finished(self) -> None:
        self.text_job = None
        self._update_buttons()
        result, self._text_result = self._text_result, None
        self.text_finished.emit(result)

    def busy_text(self) -> bool:
        return self.text_job is not None

    # ---- a file --------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.tabs.setCurrentIndex(1)
            self.open_file(paths[0])
            event.acceptProposedAction()

    def _open_dialog(self) -> None:
        start = self.ctx.settings.get("classify/last_dir", str(Path.home())) or str(Path.home())
        path, _f = QFileDialog.getOpenFileName(self, "Open texts to classify", start, FILE_FILTER)
        if path:
            self.ctx.settings.set("classify/last_dir", str(Path(path).parent))
            self.open_file(path)

    def open_file(self, path: str, column: str | None = None) -> Job | None:
        """Read a file (``column`` of a CSV/TSV) in a worker; ``file_opened`` says how it went.
        A file that cannot be used leaves the table as it was, with a message."""
        from core.classify import read_table

        if self.batch_job is not None:
            self.ctx.notify.show_info("A file is being classified: cancel it first.")
            return None
        self.read_job = self.ctx.jobs.query(f"Reading {Path(path).name}",
                                            lambda cancel: read_table(path, column),
                                            self._show_table, self._on_read_failed)
        self.read_job.finished.connect(self._on_read_finished)
        self._update_buttons()
        return self.read_job

    def _show_table(self, table: InputTable) -> None:
        self.table = table
        self.file_tab.show_table(table, self.labels or ["negative", "positive"])
        self._update_buttons()
        self.file_opened.emit(table)

    def _on_read_failed(self, exc: BaseException) -> None:
        self.ctx.notify.show_error(exc)
        self.file_opened.emit(None)

    def _on_read_finished(self) -> None:
        self.read_job = None
        self._update_buttons()

    def _on_column_changed(self) -> None:
        if self.table is not None and self.column_box.currentText():
            self.open_file(str(self.table.path), self.column_box.currentText())

    def classify_file(self) -> None:
        if self.table is None or self.model_in_use() or self.read_job is not None:
            return
        self._ensure_model(self._run_batch)

    def _run_batch(self, model) -> None:
        if self.model_in_use() or self._closed or self.table is None:
            return
        if model.kind != "classifier":
            self.ctx.notify.show_error(BadInput(
                "A fill-mask model does not classify files.",
                hint="Pick a text-classification model for the File tab."))
            return
        texts, size = list(self.table.texts), self.batch_size.value()
        self.results.clear_results()
        self.labels = self.results.labels = list(model.labels)
        self.results.model_id = self.session.model_id or ""
        self.file_tab.size_columns(self.labels, len(texts))
        self._counts = dict.fromkeys(self.labels, 0)
        self._chart_at = 0.0
        self.chart.set_counts(self._counts)
        self.batch_job = self.ctx.runner.start(
            f"Classifying {self.table.path.name}", lambda c: model.classify(texts, c, size))
        self.batch_job.event.connect(self._on_batch_event)
        self.batch_job.failed.connect(self._on_batch_failed)
        self.batch_job.cancelled.connect(self._on_batch_cancelled)
        self.batch_job.finished.connect(self._on_batch_finished)
        self.batch_status.setText("Classifying…")
        self._update_buttons()

    def _on_batch_event(self, ev: Event) -> None:
        if isinstance(ev, BatchResult):
            self.results.set_batch(ev.indices, ev.predictions)
            for p in ev.predictions:
                self._counts[p.label] = self._counts.get(p.label, 0) + 1
            now = time.monotonic()
            if now - self._chart_at > CHART_EVERY_S or ev.done == ev.total:
                self._chart_at = now
                self.chart.set_counts(self._counts)
        elif isinstance(ev, Progress):
            show_progress(self.file_tab.progress, ev,
                          f"{int(ev.done):,} / {int(ev.total or 0):,} texts")
        elif isinstance(ev, Done):
            cut = sum(1 for p in ev.result if p is not None and p.truncated)
            max_length = self.model.info.max_length if self.model is not None else 0
            self.batch_status.setText(ev.summary + (
                f" {cut:,} {'text' if cut == 1 else 'texts'} longer than the model reads "
                f"({max_length} tokens) {'was truncated to its' if cut == 1 else 'were truncated to their'}"
                " start."
                if cut else ""))

    def _on_batch_failed(self, exc: BaseException) -> None:
        self.batch_status.setText(f"Stopped by an error after {self.file_tab.done_count():,} "
                                  "texts; those results are kept.")
        self.ctx.notify.show_error(exc)

    def _on_batch_cancelled(self) -> None:
        self.batch_status.setText(f"Cancelled after {self.file_tab.done_count():,} of "
                                  f"{len(self.results.preds):,} texts; those results are kept "
                                  "(Export writes them).")

    def _on_batch_finished(self) -> None:
        self.batch_job = None
        self.chart.set_counts(self._counts)  # the last batches may have come between redraws
        self._update_buttons()
        self.batch_finished.emit(list(self.results.preds))

    def cancel_batch(self) -> None:
        if self.batch_job is not None:
            self.batch_job.cancel()

    def _export_dialog(self) -> None:
        if self.table is None:
            return
        start = str(self.table.path.with_name(self.table.path.stem + "-classified.csv"))
        path, _f = QFileDialog.getSaveFileName(self, "Export results", start, "CSV (*.csv)")
        if path:
            self.export(path)

    def export(self, path: str) -> Path | None:
        from core.classify import export_csv

        if self.table is None or not any(p is not None for p in self.results.preds):
            self.ctx.notify.show_info("Nothing to export yet: classify a file first.")
            return None
        try:
            out = export_csv(self.table, self.results.preds, path, self.labels)
        except BadInput as exc:
            self.ctx.notify.show_error(exc)
            return None
        self.ctx.notify.show_info(f"Exported {out.name}.")
        return out

    # ---- state -----------------------------------------------------------------------------
    def _update_buttons(self, *_args) -> None:
        in_use = self.model_in_use()
        running = self.batch_job is not None
        reading = self.read_job is not None
        self.classify_button.setEnabled(bool(self.input.toPlainText().strip()) and not in_use)
        self.file_tab.open_button.setEnabled(not running)
        self.column_box.setEnabled(not running and not reading)
        self.run_button.setEnabled(self.table is not None and not in_use and not reading)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(not running and self.table is not None
                                      and any(p is not None for p in self.results.preds))
        self.file_tab.train_button.setEnabled(self.can_train())
        self.model_box.combo.setEnabled(not in_use)

    def shutdown(self) -> None:
        self._closed = True
        self.session.shutdown()
        for job in (self.text_job, self.batch_job, self.read_job):
            if job is not None:
                job.cancel()
