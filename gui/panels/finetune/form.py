"""The New-run form: every setting of a fine-tuning run in three groups (task and data, base model
and method, training and output) and the config dict they make. It reads no files itself: the
dialog around it runs the data preview and the checks."""
from __future__ import annotations

import re
import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.finetune import default_learning_rate
from core.models.registry import ModelEntry, Task

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
# offered when no model on disk or in the catalogue fits the task: (shown name, registry id)
FALLBACK_BASES = {"causal-lm": ("SmolLM2-135M-Instruct", "smollm2-135m-instruct"),
                  "chat": ("SmolLM2-135M-Instruct", "smollm2-135m-instruct"),
                  "classification": ("all-MiniLM-L6-v2", "all-minilm-l6-v2")}

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
_ESCAPE = re.compile(r"\\([ntr\\])")


def unescape(text: str) -> str:
    """What a one-line field means: \\n, \\t, \\r and \\\\ typed as two characters are the
    characters they name; everything else stays as typed, non-ASCII text included."""
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)], text)


def escape(text: str) -> str:
    """How a one-line field shows ``text``: the reverse of ``unescape``."""
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            .replace("\r", "\\r"))


def lr_text(value: float) -> str:
    """A learning rate as the field shows it: 5e-05, 2e-04, 1.5e-04."""
    mantissa, exponent = f"{value:.6e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def spin(minimum, maximum, value, step=1, decimals=None):
    if decimals is None:
        w = QSpinBox(minimum=minimum, maximum=maximum, singleStep=step)
    else:
        w = QDoubleSpinBox(minimum=minimum, maximum=maximum, singleStep=step, decimals=decimals)
    w.setValue(value)
    return w


class RunForm(QWidget):
    """The settings of one run. ``data_changed``: something the data preview depends on changed."""

    data_changed = Signal()

    def __init__(self, entries: list[ModelEntry], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries = list(entries)
        self._build_widgets()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._data_box())
        lay.addWidget(self._model_box())
        lay.addWidget(self._train_box())

        self.task.currentIndexChanged.connect(self._on_task)
        self.method.currentIndexChanged.connect(self._on_method)
        self.max_steps.valueChanged.connect(self._sync)
        self.remove_file_button.clicked.connect(self.remove_selected_files)
        for w in (self.chunk, self.overlap, self.text_column, self.label_column):
            signal = w.valueChanged if hasattr(w, "valueChanged") else w.currentIndexChanged
            signal.connect(self.data_changed)
        self.hard_cut.editingFinished.connect(self.data_changed)
        self._fill_bases()
        self._sync()

    def _build_widgets(self) -> None:
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
        self._lr_default = default_learning_rate(self.task.currentData(),
                                                 self.method.currentData())
        self.lr = QLineEdit(lr_text(self._lr_default))
        self.batch = spin(1, 1024, 8)
        self.accum = spin(1, 1024, 1)
        self.max_length = spin(16, 32768, 256, 16)
        self.warmup = spin(0.0, 0.5, 0.0, 0.05, 2)
        self.eval_split = spin(0, 50, 10)
        self.eval_split.setSuffix(" %")
        self.save_steps = spin(1, 1_000_000, 50, 10)
        self.seed = spin(0, 2**31 - 1, 42)
        self.output = QLineEdit(placeholderText="a name for the new model")

    # ---- layout ------------------------------------------------------------------------------
    def _data_box(self) -> QGroupBox:
        box = QGroupBox("Task and data")
        df = QFormLayout(box)
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
        return box

    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Base model and method")
        mf = QGridLayout(box)
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
        return box

    def _train_box(self) -> QGroupBox:
        box = QGroupBox("Training and output")
        tf = QGridLayout(box)
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
        return box

    # ---- state -------------------------------------------------------------------------------
    def set_models(self, entries: list[ModelEntry]) -> None:
        """The model list changed (a download, a finished run): the base list follows it."""
        self.entries = list(entries)
        self._fill_bases()

    def _on_task(self) -> None:
        self._fill_bases()
        self._follow_default_lr()
        self._sync()
        self.data_changed.emit()

    def _on_method(self) -> None:
        self._follow_default_lr()
        self._sync()

    def _follow_default_lr(self) -> None:
        """Each task and method has its own default learning rate (full training at LoRA's rate
        learns nothing): the field shows the new one unless it holds a rate the user chose."""
        new = default_learning_rate(self.task.currentData(), self.method.currentData())
        text = self.lr.text().strip()
        try:
            untouched = not text or float(text) == self._lr_default
        except ValueError:
            untouched = False
        if untouched:
            self.lr.setText(lr_text(new))
        self._lr_default = new

    def _fill_bases(self) -> None:
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
            self.base.addItem(*FALLBACK_BASES[task])
        self.base.setCurrentIndex(max(0, self.base.findData(current)))

    def _sync(self) -> None:
        lora = self.method.currentData() == "lora"
        for w in (self.lora_r, self.lora_alpha, self.lora_dropout, self.targets, self.merge):
            w.setEnabled(lora)
        by_steps = self.max_steps.value() > 0  # max steps decide the length; epochs do not count
        self.epochs.setEnabled(not by_steps)
        self.epochs.setToolTip("Max steps is set: it decides how long the run trains."
                               if by_steps else "")

    def add_files(self, paths: list[str]) -> None:
        have = set(self.data_files())
        for p in paths:
            if p not in have:
                self.files.addItem(p)
        if not self.output.text().strip() and paths:
            self.output.setText(f"{Path(paths[0]).stem}-{time.strftime('%m%d-%H%M')}")
        self.data_changed.emit()

    def remove_selected_files(self) -> None:
        for item in self.files.selectedItems():
            self.files.takeItem(self.files.row(item))
        self.data_changed.emit()

    def data_files(self) -> tuple[str, ...]:
        return tuple(self.files.item(i).text() for i in range(self.files.count()))

    def set_columns(self, columns: tuple[str, ...]) -> None:
        """A table's columns became known: offer them, keeping a choice the table still has."""
        for combo, want in ((self.text_column, ("text", "sentence")),
                            (self.label_column, ("label", "labels"))):
            cur = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(list(columns))
            pick = cur if cur in columns else next((c for c in columns if c.lower() in want), None)
            if pick:
                combo.setCurrentText(pick)
            combo.blockSignals(False)

    def config_dict(self, device: str = "auto") -> dict:
        """The settings as FinetuneConfig fields (unchecked: FinetuneConfig.validate says)."""
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
            hard_cut=unescape(self.hard_cut.text()),
            text_column=(self.text_column.currentText() or None) if classification else None,
            label_column=(self.label_column.currentText() or None) if classification else None,
            merge_lora=bool(self.merge.currentData()), device=device)

    def set_values(self, d: dict) -> None:
        """Fill the form from config fields (``config_dict``'s keys; any may be missing), e.g. the
        settings last used for a task. Data files that no longer exist are left out."""
        if "task" in d:
            self.task.setCurrentIndex(max(0, self.task.findData(d.get("task"))))
        if d.get("base") and self.base.findData(d["base"]) >= 0:
            self.base.setCurrentIndex(self.base.findData(d["base"]))
        if "method" in d:
            self.method.setCurrentIndex(max(0, self.method.findData(d["method"])))
        spins = {"lora_r": self.lora_r, "lora_alpha": self.lora_alpha,
                 "lora_dropout": self.lora_dropout, "epochs": self.epochs,
                 "max_steps": self.max_steps, "batch_size": self.batch, "grad_accum": self.accum,
                 "max_length": self.max_length, "warmup_ratio": self.warmup,
                 "save_steps": self.save_steps, "seed": self.seed, "chunk_length": self.chunk,
                 "overlap": self.overlap}
        for key, w in spins.items():
            if isinstance(d.get(key), (int, float)) and not isinstance(d.get(key), bool):
                w.setValue(d[key])
        if isinstance(d.get("eval_split"), (int, float)):
            self.eval_split.setValue(round(d["eval_split"] * 100))
        if isinstance(d.get("learning_rate"), (int, float)) and d["learning_rate"] > 0:
            self.lr.setText(lr_text(d["learning_rate"]))
        if "target_modules" in d:
            self.targets.setText(",".join(d["target_modules"] or ()))
        if "hard_cut" in d:
            self.hard_cut.setText(escape(d.get("hard_cut") or ""))
        if "merge_lora" in d:
            self.merge.setCurrentIndex(1 if d["merge_lora"] else 0)
        for combo, key in ((self.text_column, "text_column"), (self.label_column, "label_column")):
            if d.get(key):  # kept when the file's columns arrive, if the file has it
                combo.clear()
                combo.addItem(d[key])
        files = [p for p in d.get("data", ()) if Path(p).is_file()] if "data" in d else None
        if files is not None:
            self.files.clear()
            for p in files:
                self.files.addItem(p)
        if "output" in d:
            self.output.setText(d.get("output", ""))
        self._sync()
