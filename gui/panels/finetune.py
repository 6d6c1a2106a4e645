"""Fine-tune page: a new-run dialog, a live run view (progress, ETA, loss curve), run history."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.errors import WorkbenchError
from core.events import Done, Event
from core.models.registry import ModelEntry, Task
from gui.context import AppContext
from gui.jobs import Job

TASK_LABELS = {
    "causal-lm": "Language model on raw text (.txt, .md)",
    "chat": "Language model on chat data (JSONL with \"messages\")",
    "classification": "Text classification (CSV / TSV)",
}
FILE_FILTERS = {
    "causal-lm": "Text (*.txt *.md);;All files (*)",
    "chat": "JSON lines (*.jsonl *.json);;All files (*)",
    "classification": "Tables (*.csv *.tsv *.tab);;All files (*)",
}
BASE_TASKS = {
    "causal-lm": (Task.TEXT_GENERATION,),
    "chat": (Task.TEXT_GENERATION,),
    "classification": (Task.TEXT_CLASSIFICATION, Task.FEATURE_EXTRACTION, Task.FILL_MASK),
}


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def spin(minimum, maximum, value, step=1, decimals=None):
    if decimals is None:
        w = QSpinBox(minimum=minimum, maximum=maximum, singleStep=step)
    else:
        w = QDoubleSpinBox(minimum=minimum, maximum=maximum, singleStep=step, decimals=decimals)
    w.setValue(value)
    return w


class NewRunDialog(QDialog):
    """Every setting of a run on one page; OK only when the data and settings are valid."""

    def __init__(self, ctx: AppContext, entries: list[ModelEntry], parent: QWidget | None = None,
                 initial: dict | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New fine-tuning run")
        self.ctx = ctx
        self.entries = entries
        self.preview_job: Job | None = None
        self.config = None

        self.task = QComboBox()
        for key, label in TASK_LABELS.items():
            self.task.addItem(label, key)
        self.files = QListWidget()
        self.files.setMaximumHeight(80)
        self.add_files_button = QPushButton("Add files…")
        self.remove_file_button = QPushButton("Remove")
        self.chunk = spin(16, 8192, 256, 16)
        self.overlap = spin(0, 4096, 32, 8)
        self.hard_cut = QLineEdit(placeholderText="e.g. \\n\\n\\n: always start a new chunk here")
        self.text_column = QComboBox()
        self.label_column = QComboBox()
        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setObjectName("mono")
        self.preview.setMinimumHeight(110)
        self.counts = QLabel("Add a file to see a preview.")
        self.counts.setWordWrap(True)
        self.base = QComboBox()
        self.method = QComboBox()
        self.method.addItem("LoRA (small adapter, fast)", "lora")
        self.method.addItem("Full fine-tuning", "full")
        self.lora_r = spin(1, 512, 8)
        self.lora_alpha = spin(1, 1024, 16)
        self.lora_dropout = spin(0.0, 0.9, 0.05, 0.05, 2)
        self.targets = QLineEdit(placeholderText="auto (e.g. q_proj,v_proj)")
        self.merge = QComboBox()
        self.merge.addItem("Save the adapter", False)
        self.merge.addItem("Merge into full weights", True)
        self.epochs = spin(0.1, 100.0, 1.0, 0.5, 1)
        self.max_steps = spin(-1, 10_000_000, -1, 10)
        self.max_steps.setSpecialValueText("by epochs")
        self.lr = QLineEdit("2e-4")
        self.batch = spin(1, 1024, 8)
        self.accum = spin(1, 1024, 1)
        self.max_length = spin(16, 32768, 256, 16)
        self.warmup = spin(0.0, 0.5, 0.0, 0.05, 2)
        self.eval_split = spin(0, 50, 10)
        self.eval_split.setSuffix(" %")
        self.save_steps = spin(1, 1_000_000, 50, 10)
        self.seed = spin(0, 2**31 - 1, 42)
        self.output = QLineEdit(placeholderText="a name for the new model")
        self.error = QLabel()
        self.error.setObjectName("formError")
        self.error.setWordWrap(True)
        self.error.hide()

        data_box = QGroupBox("1–2 · Task and data")
        df = QFormLayout(data_box)
        df.addRow("Task", self.task)
        frow = QHBoxLayout()
        frow.addWidget(self.files, 1)
        fcol = QVBoxLayout()
        fcol.addWidget(self.add_files_button)
        fcol.addWidget(self.remove_file_button)
        fcol.addStretch(1)
        frow.addLayout(fcol)
        df.addRow("Files", frow)
        self.text_opts = QWidget()
        to = QHBoxLayout(self.text_opts)
        to.setContentsMargins(0, 0, 0, 0)
        for label, w in (("Chunk length", self.chunk), ("Overlap", self.overlap)):
            to.addWidget(QLabel(label))
            to.addWidget(w)
        to.addWidget(QLabel("Hard cut"))
        to.addWidget(self.hard_cut, 1)
        df.addRow(self.text_opts)
        self.col_opts = QWidget()
        co = QHBoxLayout(self.col_opts)
        co.setContentsMargins(0, 0, 0, 0)
        co.addWidget(QLabel("Text column"))
        co.addWidget(self.text_column, 1)
        co.addWidget(QLabel("Label column"))
        co.addWidget(self.label_column, 1)
        df.addRow(self.col_opts)
        df.addRow("Preview", self.preview)
        df.addRow("", self.counts)

        model_box = QGroupBox("3–4 · Base model and method")
        mf = QGridLayout(model_box)
        mf.addWidget(QLabel("Base model"), 0, 0)
        mf.addWidget(self.base, 0, 1, 1, 5)
        mf.addWidget(QLabel("Method"), 1, 0)
        mf.addWidget(self.method, 1, 1)
        mf.addWidget(self.merge, 1, 2, 1, 2)
        for i, (label, w) in enumerate((("Rank", self.lora_r), ("Alpha", self.lora_alpha),
                                        ("Dropout", self.lora_dropout))):
            mf.addWidget(QLabel(label), 2, 2 * i)
            mf.addWidget(w, 2, 2 * i + 1)
        mf.addWidget(QLabel("Target modules"), 3, 0)
        mf.addWidget(self.targets, 3, 1, 1, 5)

        train_box = QGroupBox("5–6 · Training and output")
        tf = QGridLayout(train_box)
        cells = (("Epochs", self.epochs), ("Max steps", self.max_steps), ("Learning rate", self.lr),
                 ("Batch size", self.batch), ("Grad. accumulation", self.accum),
                 ("Max length", self.max_length), ("Warmup ratio", self.warmup),
                 ("Eval split", self.eval_split), ("Save every N steps", self.save_steps),
                 ("Seed", self.seed))
        for i, (label, w) in enumerate(cells):
            tf.addWidget(QLabel(label), i // 3, 2 * (i % 3))
            tf.addWidget(w, i // 3, 2 * (i % 3) + 1)
        tf.addWidget(QLabel("Output name"), 4, 0)
        tf.addWidget(self.output, 4, 1, 1, 5)

        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Start training")
        lay = QVBoxLayout(self)
        lay.addWidget(data_box)
        lay.addWidget(model_box)
        lay.addWidget(train_box)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)

        self.task.currentIndexChanged.connect(self._on_task)
        self.add_files_button.clicked.connect(self._pick_files)
        self.remove_file_button.clicked.connect(self._remove_file)
        self.method.currentIndexChanged.connect(self._sync)
        for w in (self.chunk, self.overlap, self.text_column, self.label_column):
            signal = w.valueChanged if hasattr(w, "valueChanged") else w.currentIndexChanged
            signal.connect(self.refresh_preview)
        self.hard_cut.editingFinished.connect(self.refresh_preview)
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        if initial:
            self.set_values(initial)
        self._on_task()

    def set_models(self, entries: list[ModelEntry]) -> None:
        """The model list changed while the dialog is open (a download, a finished run)."""
        self.entries = list(entries)
        self._on_task()

    # ---- state -------------------------------------------------------------------------------
    def _on_task(self) -> None:
        task = self.task.currentData()
        self.text_opts.setVisible(task == "causal-lm")
        self.col_opts.setVisible(task == "classification")
        current = self.base.currentData()
        self.base.clear()
        wanted = BASE_TASKS[task]
        for e in self.entries:
            if e.task in wanted and (e.load_path or e.source.value == "hub"):
                self.base.addItem(f"{e.name}  ·  {e.task.value}", e.id)
        if self.base.count() == 0:
            self.base.addItem("SmolLM2-135M-Instruct" if task != "classification"
                              else "all-MiniLM-L6-v2",
                              "smollm2-135m-instruct" if task != "classification"
                              else "all-minilm-l6-v2")
        idx = self.base.findData(current)
        self.base.setCurrentIndex(max(0, idx))
        if task == "classification" and self.lr.text() == "2e-4":
            self.lr.setText("5e-4")
        self._sync()
        self.refresh_preview()

    def _sync(self) -> None:
        lora = self.method.currentData() == "lora"
        for w in (self.lora_r, self.lora_alpha, self.lora_dropout, self.targets, self.merge):
            w.setEnabled(lora)

    def _pick_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Training data", self.ctx.settings.get("finetune/last_dir", ""),
            FILE_FILTERS[self.task.currentData()])
        if paths:
            self.ctx.settings.set("finetune/last_dir", str(Path(paths[0]).parent))
            self.add_files(paths)

    def add_files(self, paths: list[str]) -> None:
        have = {self.files.item(i).text() for i in range(self.files.count())}
        for p in paths:
            if p not in have:
                self.files.addItem(p)
        if not self.output.text().strip() and paths:
            self.output.setText(f"{Path(paths[0]).stem}-{time.strftime('%m%d-%H%M')}")
        self.refresh_preview()

    def _remove_file(self) -> None:
        for item in self.files.selectedItems():
            self.files.takeItem(self.files.row(item))
        self.refresh_preview()

    def data_files(self) -> tuple[str, ...]:
        return tuple(self.files.item(i).text() for i in range(self.files.count()))

    def config_dict(self) -> dict:
        try:
            lr = float(self.lr.text())
        except ValueError:
            lr = -1.0
        targets = tuple(t.strip() for t in self.targets.text().split(",") if t.strip()) or None
        classification = self.task.currentData() == "classification"
        return dict(
            task=self.task.currentData(), base=self.base.currentData() or "",
            data=self.data_files(), output=self.output.text().strip(),
            method=self.method.currentData(), lora_r=self.lora_r.value(),
            lora_alpha=self.lora_alpha.value(), lora_dropout=self.lora_dropout.value(),
            target_modules=targets, epochs=self.epochs.value(),
            max_steps=self.max_steps.value(), learning_rate=lr, batch_size=self.batch.value(),
            grad_accum=self.accum.value(), max_length=self.max_length.value(),
            warmup_ratio=self.warmup.value(), eval_split=self.eval_split.value() / 100,
            save_steps=self.save_steps.value(), seed=self.seed.value(),
            chunk_length=self.chunk.value(), overlap=self.overlap.value(),
            hard_cut=self.hard_cut.text().encode().decode("unicode_escape"),
            text_column=(self.text_column.currentText() or None) if classification else None,
            label_column=(self.label_column.currentText() or None) if classification else None,
            merge_lora=bool(self.merge.currentData()),
            device=self.ctx.settings.get("device/preference", "auto") or "auto")

    def set_values(self, d: dict) -> None:
        self.task.setCurrentIndex(max(0, self.task.findData(d.get("task"))))
        for p in d.get("data", ()):
            self.files.addItem(p)
        self.output.setText(d.get("output", ""))

    # ---- preview -----------------------------------------------------------------------------
    def refresh_preview(self) -> None:
        if not self.data_files():
            self.preview.clear()
            self.counts.setText("Add a file to see a preview.")
            return
        from core.finetune import FinetuneConfig, preview_data

        try:
            config = FinetuneConfig.from_dict({**self.config_dict(), "output": "preview"})
        except (WorkbenchError, TypeError, ValueError) as exc:
            self.show_error(exc)
            return
        if self.preview_job is not None:
            self.preview_job.cancel()
        self.counts.setText("Reading…")

        registry = self.ctx.registry

        def job(cancel):
            from core.finetune import base_tokenizer

            # the base model's own tokenizer when it is on disk: exact token and chunk counts
            yield Done(result=preview_data(config, tokenizer=base_tokenizer(config, registry)))

        self.preview_job = self.ctx.runner.start("Previewing data", job, quiet=True)
        self.preview_job.event.connect(self._on_preview)
        self.preview_job.failed.connect(self._on_preview_failed)
        self.preview_job.finished.connect(self._on_preview_finished)

    def _on_preview(self, ev: Event) -> None:
        if not isinstance(ev, Done):
            return
        p = ev.result
        self.preview.setPlainText("\n\n──────────\n\n".join(p.samples))
        parts = [f"{p.n_examples:,} {'rows' if p.kind == 'classification' else 'examples'}"]
        if p.n_tokens is not None:
            parts.append(f"{p.n_tokens:,} tokens")
        if p.label_counts:
            parts.append("labels: " + ", ".join(f"{k} {v:,}" for k, v in p.label_counts.items()))
        parts.append(f"encoding {p.encoding}")
        self.counts.setText(" · ".join(parts))
        if p.columns:
            for combo, want in ((self.text_column, ("text", "sentence")),
                                (self.label_column, ("label", "labels"))):
                cur = combo.currentText()
                combo.blockSignals(True)
                combo.clear()
                combo.addItems(list(p.columns))
                pick = cur if cur in p.columns else next((c for c in p.columns if c.lower() in want),
                                                         None)
                if pick:
                    combo.setCurrentText(pick)
                combo.blockSignals(False)
        self.error.hide()

    def _on_preview_failed(self, exc: BaseException) -> None:
        self.preview.clear()
        self.counts.setText("")
        self.show_error(exc)

    def _on_preview_finished(self) -> None:
        self.preview_job = None

    def show_error(self, exc: BaseException | str) -> None:
        from core.errors import describe

        self.error.setText(exc if isinstance(exc, str) else describe(exc)[1])
        self.error.show()

    def try_accept(self) -> bool:
        """Validate everything (settings and data); stay open with the reason when invalid."""
        from core.finetune import FinetuneConfig, preview_data

        try:
            config = FinetuneConfig.from_dict(self.config_dict()).validate()
            preview_data(config)
        except (WorkbenchError, TypeError, ValueError) as exc:
            self.show_error(exc)
            return False
        self.config = config
        self.accept()
        return True


class LossPlot(QWidget):
    """Train and eval loss against the step, drawn as points arrive."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True, background="w", foreground="#333")
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.addLegend(offset=(-10, 10))
        self.train = self.plot.plot([], [], name="train", pen=pg.mkPen("#3b6fd8", width=2))
        self.eval = self.plot.plot([], [], name="eval", pen=pg.mkPen("#d8573b", width=2),
                                   symbol="o", symbolSize=6, symbolBrush="#d8573b")
        self.points: dict[str, tuple[list, list]] = {"train": ([], []), "eval": ([], [])}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def clear(self) -> None:
        self.points = {"train": ([], []), "eval": ([], [])}
        self.train.setData([], [])
        self.eval.setData([], [])

    def add(self, split: str, step: int, loss: float) -> None:
        xs, ys = self.points.setdefault(split, ([], []))
        xs.append(step)
        ys.append(loss)
        (self.train if split == "train" else self.eval).setData(xs, ys)


class FinetunePanel(QWidget):
    run_finished = Signal(object)  # RunResult, or None when it failed

    def __init__(self, ctx: AppContext, trainer: Callable | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.trainer = trainer  # tests inject a fake; default: core.finetune.train
        self.entries: list[ModelEntry] = []
        self.dialog: NewRunDialog | None = None  # the open New-run dialog, if any
        self.job: Job | None = None
        self.current_config = None
        self.last_result = None
        self._try_handler: Callable[[str, str], None] | None = None

        title = QLabel("Fine-tune")
        title.setObjectName("pageTitle")
        subtitle = QLabel("Train on your own files with LoRA or full fine-tuning, watch the loss, "
                          "and use the result at once in Chat or Classify.")
        subtitle.setObjectName("subtitle")
        subtitle.setWordWrap(True)
        self.new_button = QPushButton("New run…")
        self.resume_button = QPushButton("Resume")
        self.script_button = QPushButton("Export as script…")
        self.merge_button = QPushButton("Merge LoRA")
        self.try_button = QPushButton("Try it")
        self.cancel_button = QPushButton("Cancel run")
        bar = QHBoxLayout()
        for b in (self.new_button, self.resume_button, self.script_button, self.merge_button,
                  self.try_button):
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.cancel_button)

        self.history = QListWidget()
        self.history.setSelectionMode(QAbstractItemView.SingleSelection)
        self.run_title = QLabel("No run yet: start one with New run…")
        self.run_title.setObjectName("viewerTitle")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("–")
        self.stats = QLabel("")
        self.stats.setObjectName("hint")
        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.plot = LossPlot()
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(8, 0, 0, 0)
        rl.addWidget(self.run_title)
        rl.addWidget(self.progress)
        rl.addWidget(self.stats)
        rl.addWidget(self.plot, 1)
        rl.addWidget(self.metrics)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Runs"))
        ll.addWidget(self.history, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([260, 740])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 12)
        lay.addWidget(title)
        lay.addWidget(subtitle)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

        self.new_button.clicked.connect(self.open_dialog)
        self.resume_button.clicked.connect(self.resume_selected)
        self.script_button.clicked.connect(self._export_script_dialog)
        self.merge_button.clicked.connect(self.merge_selected)
        self.try_button.clicked.connect(self.try_selected)
        self.cancel_button.clicked.connect(self.cancel)
        self.history.currentItemChanged.connect(self._on_history_selected)
        self.refresh_history()
        self._update_buttons()

    # ---- models ----------------------------------------------------------------------------
    def set_models(self, entries: list[ModelEntry]) -> None:
        self.entries = list(entries)
        if self.dialog is not None:
            self.dialog.set_models(self.entries)

    def connect_try(self, handler: Callable[[str, str], None]) -> None:
        """``handler(page, model_id)`` opens a trained model in Chat or Classify."""
        self._try_handler = handler

    # ---- history -----------------------------------------------------------------------------
    def refresh_history(self) -> None:
        from core.finetune import list_runs

        keep = self.selected_run().name if self.selected_run() else None
        self.history.blockSignals(True)
        self.history.clear()
        try:
            runs = list_runs(self.ctx.home)
        except WorkbenchError as exc:
            self.ctx.notify.show_error(exc)
            runs = []
        for run in runs:
            metric = ""
            m = run.metrics or {}
            if "perplexity" in m:
                metric = f" · ppl {m['perplexity']:.2f}"
            elif "accuracy" in m:
                metric = f" · acc {m['accuracy']:.3f}"
            item = QListWidgetItem(f"{run.name}\n{run.status}{metric}")
            item.setData(Qt.UserRole, run)
            self.history.addItem(item)
            if run.name == keep:
                self.history.setCurrentItem(item)
        self.history.blockSignals(False)
        self._update_buttons()

    def selected_run(self):
        item = self.history.currentItem()
        return item.data(Qt.UserRole) if item else None

    def _on_history_selected(self, item) -> None:
        self._update_buttons()
        if item is None or self.job is not None:
            return
        run = item.data(Qt.UserRole)
        self.run_title.setText(f"{run.name} · {run.status} · "
                               f"{run.config.get('task', '')} · base {run.config.get('base', '')}")
        self.plot.clear()
        for p in run.losses or []:
            self.plot.add(p.get("split", "train"), p["step"], p["loss"])
        self.metrics.setText(self._metrics_text(run.metrics))
        self.progress.setValue(1000 if run.status == "done" else 0)
        self.progress.setFormat(run.status)
        self.stats.setText("")

    @staticmethod
    def _metrics_text(m: dict | None) -> str:
        if not m:
            return ""
        return " · ".join(f"{k.replace('_', ' ')} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in m.items())

    def _update_buttons(self) -> None:
        run = self.selected_run()
        busy = self.job is not None
        self.cancel_button.setEnabled(busy)
        self.new_button.setEnabled(not busy)
        self.resume_button.setEnabled(not busy and run is not None
                                      and run.status in ("cancelled", "failed"))
        done = run is not None and run.status == "done"
        self.try_button.setEnabled(done)
        self.merge_button.setEnabled(not busy and done and run.config.get("method") == "lora"
                                     and not run.config.get("merge_lora"))
        self.script_button.setEnabled(run is not None)

    # ---- running -----------------------------------------------------------------------------
    def open_dialog(self) -> NewRunDialog:
        dlg = NewRunDialog(self.ctx, self.entries, self)
        self.dialog = dlg
        dlg.accepted.connect(lambda: self.start(dlg.config))
        dlg.finished.connect(lambda _r: setattr(self, "dialog", None))
        dlg.open()
        return dlg

    def start(self, config, resume: bool = False) -> Job | None:
        if self.job is not None:
            self.ctx.notify.show_info("A run is already going; cancel it or wait.")
            return None
        trainer = self.trainer
        if trainer is None:
            from core.finetune import train as trainer
        home = self.ctx.home
        registry = self.ctx.registry
        self.current_config = config
        self.plot.clear()
        self.metrics.setText("")
        self.run_title.setText(f"{config.output} · {'resuming' if resume else 'starting'} · "
                               f"{config.task} · base {config.base} · {config.method}")
        self.progress.setValue(0)
        self.progress.setFormat("Preparing…")
        self.job = self.ctx.runner.start(
            f"Training {config.output}",
            lambda c: trainer(config, c, home=home, registry=registry, resume=resume))
        self.job.event.connect(self._on_event)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(lambda: self.progress.setFormat("Cancelled"))
        self.job.finished.connect(self._on_finished)
        self._update_buttons()
        return self.job

    def _on_event(self, ev: Event) -> None:
        from core.events import Progress
        from core.finetune import LossPoint, TrainProgress

        if isinstance(ev, TrainProgress):
            frac = ev.step / ev.max_steps if ev.max_steps else 0
            self.progress.setValue(int(frac * 1000))
            self.progress.setFormat(f"step {ev.step}/{ev.max_steps} · epoch {ev.epoch:.2f} · "
                                    f"ETA {fmt_eta(ev.eta_s)}")
            rate = f"{ev.samples_per_s:.1f} samples/s" if ev.samples_per_s else ""
            self.stats.setText(f"elapsed {fmt_eta(ev.elapsed_s)}  {rate}".strip())
        elif isinstance(ev, LossPoint):
            self.plot.add(ev.split, ev.step, ev.loss)
            if ev.learning_rate is not None:
                self.stats.setText(self.stats.text().split("  lr")[0]
                                   + f"  lr {ev.learning_rate:.2e}")
        elif isinstance(ev, Progress):
            self.progress.setFormat(ev.stage)
        elif isinstance(ev, Done):
            self.last_result = ev.result
            r = ev.result
            self.metrics.setText(self._metrics_text(r.metrics)
                                 + ("" if not r.stopped else "  (stopped: the last checkpoint is "
                                                             "kept, Resume continues)"))
            if not r.stopped:
                self.progress.setValue(1000)
                self.progress.setFormat("Done")
                self.ctx.notify.show_info(f"'{r.name}' is ready: it is in the model list now.")
            else:
                self.progress.setFormat("Stopped")

    def _on_failed(self, exc: BaseException) -> None:
        self.progress.setFormat("Failed")
        self.ctx.notify.show_error(exc)

    def _on_finished(self) -> None:
        self.job = None
        result, self.last_result = self.last_result, None
        self.refresh_history()
        self._update_buttons()
        if result is not None and not result.stopped:
            self.ctx.models_changed()
        self.run_finished.emit(result)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.progress.setFormat("Stopping after this step…")

    def resume_selected(self) -> None:
        from core.finetune import FinetuneConfig

        run = self.selected_run()
        if run is not None:
            self.start(FinetuneConfig.from_dict(run.config), resume=True)

    def merge_selected(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        from core.finetune import merge_adapter

        home, path = self.ctx.home, run.path

        def job(cancel):
            yield Done(result=merge_adapter(path, home=home))

        j = self.ctx.runner.start(f"Merging {run.name}", job)
        j.failed.connect(self.ctx.notify.show_error)
        j.event.connect(lambda ev: self.ctx.notify.show_info(f"Merged into {ev.result}"))
        j.finished.connect(self.refresh_history)
        j.finished.connect(self.ctx.models_changed)

    def try_selected(self) -> None:
        run = self.selected_run()
        if run is None or self._try_handler is None:
            return
        page = "classify" if run.config.get("task") == "classification" else "chat"
        self._try_handler(page, f"app:{Path(run.path).name}")

    def _export_script_dialog(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the training script")
        if folder:
            self.export_script(run, folder)

    def export_script(self, run, folder: str) -> list[Path]:
        from core.finetune import FinetuneConfig, export_script

        try:
            paths = export_script(FinetuneConfig.from_dict(run.config), folder)
        except (WorkbenchError, OSError) as exc:
            self.ctx.notify.show_error(exc)
            return []
        self.ctx.notify.show_info("Wrote " + ", ".join(p.name for p in paths) + f" to {folder}")
        return paths
