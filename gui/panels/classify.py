"""Classify page: per-label probabilities for one text, a whole file as a table, or a [MASK] filled.

The model loads in a worker on first use; every classification runs in a worker too. A file's table
fills in batch by batch; Cancel keeps what is done, and Export writes it with the rest left blank.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.cancel import CancelToken
from core.classify import DEFAULT_CLASSIFY_MODEL, BatchResult, InputTable, Prediction
from core.errors import BadInput
from core.events import Done, Event, Progress
from core.models.registry import ModelEntry, Task
from gui.context import AppContext
from gui.jobs import Job
from gui.picker import TASK_ROLE, ModelPicker
from gui.progress import show_progress

ModelLoader = Callable[[str, str, CancelToken], Iterator[Event]]
FILE_FILTER = "Texts and tables (*.txt *.csv *.tsv);;All files (*)"
COLUMNS = ("#", "Text", "Label", "Score")
CHART_EVERY_S = 0.2  # the label chart redraws at most this often while a file runs


def default_loader(ctx: AppContext) -> ModelLoader:
    def load(model_id: str, device: str, cancel: CancelToken) -> Iterator[Event]:
        from core.classify import open_classifier

        return open_classifier(ctx.registry, model_id, device, cancel)

    return load


class ResultsModel(QAbstractTableModel):
    """Rows of the opened file: the text, then label and score once its batch is done."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.texts: list[str] = []
        self.preds: list[Prediction | None] = []

    def reset(self, texts: list[str]) -> None:
        self.beginResetModel()
        self.texts = list(texts)
        self.preds = [None] * len(texts)
        self.endResetModel()

    def clear_results(self) -> None:
        self.preds = [None] * len(self.texts)
        if self.texts:
            self.dataChanged.emit(self.index(0, 2), self.index(len(self.texts) - 1, 3))

    def set_batch(self, indices, preds) -> None:
        for i, p in zip(indices, preds):
            self.preds[i] = p
        if indices:
            self.dataChanged.emit(self.index(min(indices), 2), self.index(max(indices), 3))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else len(self.texts)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        pred = self.preds[row]
        if role == Qt.DisplayRole:
            if col == 0:
                return row + 1
            if col == 1:
                text = self.texts[row]
                return text if len(text) <= 300 else text[:300] + "…"
            if pred is None:
                return ""
            return pred.label if col == 2 else f"{pred.score:.3f}"
        if role == Qt.ToolTipRole and col == 1:
            return self.texts[row][:2000]
        if role == Qt.ToolTipRole and col in (2, 3) and pred is not None:
            return "\n".join(f"{k}: {v:.3f}" for k, v in pred.scores.items()) + (
                "\n(truncated: only the start was read)" if pred.truncated else "")
        if role == Qt.TextAlignmentRole and col in (0, 3):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None


class CountsChart(QWidget):
    """How many rows got each label, as a small bar chart."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        self._pg = pg
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getPlotItem().setTitle("Rows per label", color="#3b4252", size="10pt")
        self.plot.setMinimumHeight(160)
        self.bars = None
        self.counts: dict[str, int] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def set_counts(self, counts: dict[str, int]) -> None:
        self.counts = dict(counts)
        pg = self._pg
        if self.bars is not None:
            self.plot.removeItem(self.bars)
            self.bars = None
        labels = list(counts)
        if not labels:
            return
        xs = list(range(len(labels)))
        self.bars = pg.BarGraphItem(x=xs, height=[counts[k] for k in labels], width=0.6,
                                    brush="#5e81ac", pen=pg.mkPen("#4c6a8f"))
        self.plot.addItem(self.bars)
        axis = self.plot.getAxis("bottom")
        axis.setTicks([[(x, f"{k} ({counts[k]})") for x, k in zip(xs, labels)]])
        self.plot.setXRange(-0.6, len(labels) - 0.4, padding=0)
        self.plot.setYRange(0, max(1, max(counts.values())) * 1.1, padding=0)


class LabelBars(QWidget):
    """Every label with its probability as a bar; the top one in bold."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 4, 0, 4)
        self.grid.setColumnStretch(1, 1)
        self.rows: dict[str, QProgressBar] = {}

    def show_prediction(self, pred: Prediction) -> None:
        self.clear()
        for r, (label, p) in enumerate(sorted(pred.scores.items(), key=lambda kv: -kv[1])):
            name = QLabel(label)
            if label == pred.label:
                name.setStyleSheet("font-weight: 600;")
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(p * 1000))
            bar.setFormat(f"{p * 100:.1f} %")
            bar.setObjectName("probBar")
            self.grid.addWidget(name, r, 0)
            self.grid.addWidget(bar, r, 1)
            self.rows[label] = bar

    def show_rows(self, rows: list[tuple[str, float]]) -> None:
        """(name, score) rows, e.g. the candidates for a mask."""
        self.clear()
        for r, (name, p) in enumerate(rows):
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(p * 1000))
            bar.setFormat(f"{p * 100:.1f} %")
            self.grid.addWidget(QLabel(name), r, 0)
            self.grid.addWidget(bar, r, 1)
            self.rows[name] = bar

    def clear(self) -> None:
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.rows = {}


class ClassifyPanel(QWidget, ModelPicker):
    batch_finished = Signal(object)  # the predictions so far (None where not classified)
    text_finished = Signal(object)  # Prediction, the fills of each mask, or None (it failed)
    default_model_id = DEFAULT_CLASSIFY_MODEL
    default_model_name = "Sentiment (MiniLM, SST-2)"
    picker_tasks = (Task.TEXT_CLASSIFICATION, Task.FILL_MASK)
    settings_key = "classify/model"

    def __init__(self, ctx: AppContext, loader: ModelLoader | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.loader = loader or default_loader(ctx)
        self.init_picker()
        self.text_job: Job | None = None
        self.batch_job: Job | None = None
        self.table: InputTable | None = None
        self.labels: list[str] = []
        self._text_result = None
        self._counts: dict[str, int] = {}
        self._chart_at = 0.0
        self._closed = False

        # ---- model bar ----
        self.model_box = QComboBox()
        self.model_box.setMinimumWidth(280)
        self.load_progress = QProgressBar()
        self.load_progress.setMaximumWidth(200)
        self.load_progress.hide()
        self.model_status = QLabel("The model loads with your first text.")
        self.model_status.setObjectName("hint")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 512)
        self.batch_size.setValue(int(ctx.settings.get("classify/batch_size", 32) or 32))
        self.batch_size.setToolTip("Texts per forward pass in file mode")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Model"))
        bar.addWidget(self.model_box)
        bar.addWidget(self.load_progress)
        bar.addStretch(1)
        bar.addWidget(QLabel("Batch size"))
        bar.addWidget(self.batch_size)

        # ---- single text ----
        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("Type or paste a text… (Ctrl+Enter classifies)")
        self.input.setFixedHeight(110)
        self.classify_button = QPushButton("Classify")
        self.classify_button.setDefault(True)
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 50)
        self.top_k.setValue(5)
        self.top_k.setToolTip("Candidates shown for each mask")
        self.top_k_label = QLabel("Top-k")
        self.mode_hint = QLabel()
        self.mode_hint.setObjectName("hint")
        self.mode_hint.setWordWrap(True)
        self.result_title = QLabel()
        self.result_title.setObjectName("resultTitle")
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.bars = LabelBars()
        row = QHBoxLayout()
        row.addWidget(self.mode_hint, 1)
        row.addWidget(self.top_k_label)
        row.addWidget(self.top_k)
        row.addWidget(self.classify_button)
        single = QWidget()
        slay = QVBoxLayout(single)
        slay.addWidget(self.input)
        slay.addLayout(row)
        slay.addWidget(self.notice)
        slay.addWidget(self.result_title)
        slay.addWidget(self.bars)
        self.recent = QTableWidget(0, 3)
        self.recent.setHorizontalHeaderLabels(["Recent texts", "Label", "Score"])
        self.recent.verticalHeader().hide()
        self.recent.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.recent.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.recent.setWordWrap(False)
        rh = self.recent.horizontalHeader()
        rh.setSectionResizeMode(0, QHeaderView.Stretch)
        rh.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        rh.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.recent.setToolTip("Double-click a row to put its text back in the box")
        self.recent.cellDoubleClicked.connect(
            lambda r, _c: self.input.setPlainText(self.recent.item(r, 0).toolTip()))
        slay.addWidget(self.recent, 1)

        # ---- file ----
        self.open_button = QPushButton("Open file…")
        self.file_label = QLabel("No file: open a .txt (one text per line), .csv or .tsv file, "
                                 "or drop one here.")
        self.file_label.setObjectName("hint")
        self.file_label.setWordWrap(True)
        self.column_box = QComboBox()
        self.column_box.setMinimumWidth(120)
        self.column_label = QLabel("Column")
        self.run_button = QPushButton("Classify file")
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QPushButton("Export CSV…")
        self.batch_progress = QProgressBar()
        self.batch_progress.setRange(0, 1000)
        self.batch_progress.setValue(0)
        self.batch_progress.setFormat("")
        self.batch_status = QLabel()
        self.batch_status.setObjectName("hint")
        self.results = ResultsModel(self)
        self.view = QTableView()
        self.view.setModel(self.results)
        self.view.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        # fixed widths, set from the content's shape: sizing to contents would ask every row
        # again after each batch, which slowed a running file by half
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        self._size_columns(["negative", "positive"], 1000)
        self.chart = CountsChart()
        fbar = QHBoxLayout()
        fbar.addWidget(self.open_button)
        fbar.addWidget(self.column_label)
        fbar.addWidget(self.column_box)
        fbar.addWidget(self.run_button)
        fbar.addWidget(self.cancel_button)
        fbar.addStretch(1)
        fbar.addWidget(self.export_button)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.chart)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        batch = QWidget()
        blay = QVBoxLayout(batch)
        blay.addLayout(fbar)
        blay.addWidget(self.file_label)
        blay.addWidget(self.batch_progress)
        blay.addWidget(self.batch_status)
        blay.addWidget(split, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(single, "Text")
        self.tabs.addTab(batch, "File")
        title = QLabel("Classify")
        title.setObjectName("pageTitle")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 8)
        lay.addWidget(title)
        lay.addLayout(bar)
        lay.addWidget(self.model_status)
        lay.addWidget(self.tabs, 1)
        self.setAcceptDrops(True)

        # ---- wiring ----
        self.model_box.currentIndexChanged.connect(self._on_model_changed)
        self.classify_button.clicked.connect(self.classify_text)
        self.input.textChanged.connect(self._update_buttons)
        self.open_button.clicked.connect(self._open_dialog)
        self.column_box.currentIndexChanged.connect(self._on_column_changed)
        self.run_button.clicked.connect(self.classify_file)
        self.cancel_button.clicked.connect(self.cancel_batch)
        self.export_button.clicked.connect(self._export_dialog)
        self.batch_size.valueChanged.connect(
            lambda v: self.ctx.settings.set("classify/batch_size", v))
        QShortcut(QKeySequence("Ctrl+Return"), self.input, self.classify_text)
        self.column_box.hide()
        self.column_label.hide()
        self.set_models([])
        self._set_mode()
        self._update_buttons()

    # ---- models --------------------------------------------------------------------------
    def entry_suffix(self, e: ModelEntry) -> str:
        return ("  (fill-mask)" if e.task is Task.FILL_MASK else "") + super().entry_suffix(e)

    def models_listed(self) -> None:
        self._set_mode()

    def fill_mask_mode(self) -> bool:
        if self.model is not None and self.model_id == self.model_box.currentData():
            return self.model.kind == "fill-mask"
        return self.model_box.currentData(TASK_ROLE) == Task.FILL_MASK.value

    def _set_mode(self) -> None:
        fill = self.fill_mask_mode()
        self.top_k.setVisible(fill)
        self.top_k_label.setVisible(fill)
        self.classify_button.setText("Fill" if fill else "Classify")
        self.mode_hint.setText(
            "Fill-mask model: write [MASK] where a word is missing, e.g. “The capital of France "
            "is [MASK].”" if fill else "Every label of the model gets its probability.")
        self.tabs.setTabEnabled(1, not fill)
        if fill:
            self.tabs.setCurrentIndex(0)

    def _on_model_changed(self) -> None:
        model_id = self.model_box.currentData()
        self.ctx.settings.set(self.settings_key, model_id)
        if self.model is not None and model_id != self.model_id:
            self.model_status.setText("Another model is picked: it loads with the next text.")
        self._set_mode()
        self.bars.clear()
        self.result_title.clear()

    def describe_model(self, model) -> str:
        info = model.info
        what = (f"labels: {', '.join(info.labels)}" if info.kind == "classifier"
                else f"fill-mask ({model.mask_token})")
        extra = f" · {info.note}" if info.note else ""
        return (f"{info.name} · {what} · reads {info.max_length} tokens · loaded in "
                f"{info.seconds:.1f} s · {info.device.split(':')[0].upper()}{extra}")

    def model_loaded(self) -> None:
        self._set_mode()

    # ---- one text ------------------------------------------------------------------------
    def classify_text(self) -> None:
        text = self.input.toPlainText()
        if not text.strip():
            self.ctx.notify.show_error(BadInput("The text is empty.",
                                                hint="Type or paste a text to classify."))
            return
        if self.busy_text():
            return
        self.ensure_model(lambda: self._run_text(text))

    def _run_text(self, text: str) -> None:
        model = self.model
        top_k = self.top_k.value()

        def work(cancel: CancelToken):
            cancel.raise_if_cancelled()
            if model.kind == "fill-mask":
                yield Done(result=model.fill(text, top_k))
            else:
                yield Done(result=model.predict([text])[0])

        self.text_job = self.ctx.runner.start("Classifying text", work)
        self.text_job.event.connect(self._on_text_done)
        self.text_job.failed.connect(self.ctx.notify.show_error)
        self.text_job.finished.connect(self._on_text_finished)
        self._update_buttons()

    def _on_text_done(self, ev: Event) -> None:
        if not isinstance(ev, Done):
            return
        if isinstance(ev.result, Prediction):
            pred = ev.result
            self.result_title.setText(f"<b>{pred.label}</b> &nbsp; {pred.score * 100:.1f} %")
            self.bars.show_prediction(pred)
            self._add_recent(pred)
            if pred.truncated:
                self.notice.setText(f"The text is longer than the model reads "
                                    f"({self.model.info.max_length} tokens): only its start was "
                                    "classified.")
                self.notice.show()
            else:
                self.notice.hide()
        else:
            self.notice.hide()
            masks = ev.result
            first = masks[0]
            more = f" (first of {len(masks)} masks)" if len(masks) > 1 else ""
            self.result_title.setText(f"<b>{first[0].sequence}</b>{more}")
            rows = [(f.token, f.score) for fills in masks[:1] for f in fills]
            self.bars.show_rows(rows)
        self._text_result = ev.result

    def _add_recent(self, pred: Prediction) -> None:
        self.recent.insertRow(0)
        short = " ".join(pred.text.split())
        item = QTableWidgetItem(short if len(short) <= 200 else short[:200] + "…")
        item.setToolTip(pred.text)
        self.recent.setItem(0, 0, item)
        self.recent.setItem(0, 1, QTableWidgetItem(pred.label))
        score = QTableWidgetItem(f"{pred.score:.3f}")
        score.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
        self.recent.setItem(0, 2, score)
        while self.recent.rowCount() > 50:
            self.recent.removeRow(self.recent.rowCount() - 1)

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

    def open_file(self, path: str, column: str | None = None) -> bool:
        """Read a file into the table (choosing ``column`` of a CSV/TSV). False, with a message,
        when it cannot be used; the table then keeps what it had."""
        from core.classify import read_table

        if self.batch_job is not None:
            self.ctx.notify.show_info("A file is being classified: cancel it first.")
            return False
        try:
            table = read_table(path, column)
        except BadInput as exc:
            self.ctx.notify.show_error(exc)
            return False
        self.table = table
        self.column_box.blockSignals(True)
        self.column_box.clear()
        for c in table.columns:  # [] for one text per line
            self.column_box.addItem(c)
        self.column_box.setCurrentText(table.column)
        self.column_box.blockSignals(False)
        self.column_box.setVisible(bool(table.columns))
        self.column_label.setVisible(bool(table.columns))
        self.results.reset(table.texts)
        self._size_columns(self.labels or ["negative", "positive"], len(table.texts))
        self.chart.set_counts({})
        self.batch_progress.setValue(0)
        self.batch_progress.setFormat("")
        skipped = f" · {table.skipped} empty left out" if table.skipped else ""
        what = f"column '{table.column}'" if table.kind == "table" else "one text per line"
        self.file_label.setText(f"{Path(path).name}: {len(table.texts):,} texts ({what}, "
                                f"{table.encoding}){skipped}")
        self.batch_status.clear()
        self._update_buttons()
        return True

    def _size_columns(self, labels: list[str], rows: int) -> None:
        fm = self.view.fontMetrics()
        pad = 24
        header = self.view.horizontalHeader()
        header.resizeSection(0, fm.horizontalAdvance(f"{max(rows, 10):d}") + pad)
        header.resizeSection(2, max([fm.horizontalAdvance(x) for x in labels + ["Label"]]) + pad)
        header.resizeSection(3, fm.horizontalAdvance("0.0000") + pad)

    def _on_column_changed(self) -> None:
        if self.table is not None and self.column_box.currentText():
            self.open_file(str(self.table.path), self.column_box.currentText())

    def classify_file(self) -> None:
        if self.table is None or self.batch_job is not None:
            return
        self.ensure_model(self._run_batch)

    def _run_batch(self) -> None:
        if self.model.kind != "classifier":
            self.ctx.notify.show_error(BadInput(
                "A fill-mask model does not classify files.",
                hint="Pick a text-classification model for the File tab."))
            return
        model, texts, size = self.model, list(self.table.texts), self.batch_size.value()
        self.results.clear_results()
        self.labels = list(model.labels)
        self._size_columns(self.labels, len(texts))
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
            show_progress(self.batch_progress, ev, f"{int(ev.done):,} / {int(ev.total or 0):,} texts")
        elif isinstance(ev, Done):
            cut = sum(1 for p in ev.result if p is not None and p.truncated)
            self.batch_status.setText(ev.summary + (
                f" {cut:,} text(s) longer than the model reads ({self.model.info.max_length} "
                "tokens) were truncated to their start." if cut else ""))

    def _on_batch_failed(self, exc: BaseException) -> None:
        done = sum(p is not None for p in self.results.preds)
        self.batch_status.setText(f"Stopped by an error after {done:,} texts; those results are "
                                  "kept.")
        self.ctx.notify.show_error(exc)

    def _on_batch_cancelled(self) -> None:
        done = sum(p is not None for p in self.results.preds)
        self.batch_status.setText(f"Cancelled after {done:,} of {len(self.results.preds):,} "
                                  "texts; those results are kept (Export writes them).")

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
    def _update_buttons(self) -> None:
        loading = self.load_job is not None
        running = self.batch_job is not None
        self.classify_button.setEnabled(bool(self.input.toPlainText().strip())
                                        and self.text_job is None and not loading)
        self.open_button.setEnabled(not running)
        self.column_box.setEnabled(not running)
        self.run_button.setEnabled(self.table is not None and not running and not loading)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(not running and self.table is not None
                                      and any(p is not None for p in self.results.preds))
        self.model_box.setEnabled(not running and not loading)

    def shutdown(self) -> None:
        self._closed = True
        for job in (self.load_job, self.text_job, self.batch_job):
            if job is not None:
                job.cancel()
