"""The Compare-with-base dialog: the comparison's progress with Cancel while it runs, then its
result. Classification runs: accuracy and macro F1 of base and tuned, and a confusion matrix for
each; language-model runs: perplexity of both and the sample continuations side by side."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gui.progress import show_progress


def _table(rows: list[str], cols: list[str]) -> QTableWidget:
    t = QTableWidget(len(rows), len(cols))
    t.setVerticalHeaderLabels(rows)
    t.setHorizontalHeaderLabels(cols)
    t.setEditTriggers(QAbstractItemView.NoEditTriggers)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
    t.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    return t


def _cell(text: str, bold: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignCenter)
    if bold:
        font = item.font()
        font.setBold(True)
        item.setFont(font)
    return item


def _fit_height(t: QTableWidget) -> None:
    t.resizeRowsToContents()
    h = t.horizontalHeader().height() + sum(t.rowHeight(r) for r in range(t.rowCount())) + 4
    t.setFixedHeight(h)


def figures_table(cmp) -> QTableWidget:
    """Rows: the figures; columns: base, tuned. The better of each row in bold."""
    from core.finetune.compare import fmt_ppl

    b, t = cmp.base, cmp.tuned
    if cmp.classification:
        rows = [("Accuracy", b.accuracy, t.accuracy, True),
                ("Macro F1", b.f1_macro, t.f1_macro, True)]
        fmt = lambda v: f"{v:.3f}"  # noqa: E731
    else:
        rows = [("Perplexity", b.perplexity, t.perplexity, False)]
        fmt = fmt_ppl
    table = _table([r[0] for r in rows], [f"Base: {b.name}", f"Tuned: {t.name}"])
    for i, (_label, before, after, higher) in enumerate(rows):
        better = (after > before) if higher else (after < before)
        table.setItem(i, 0, _cell(fmt(before), bold=before != after and not better))
        table.setItem(i, 1, _cell(fmt(after), bold=before != after and better))
    _fit_height(table)
    return table


def confusion_table(labels: tuple[str, ...], matrix) -> QTableWidget:
    """Rows: the true label; columns: the predicted one; the diagonal (right) shaded."""
    table = _table(list(labels), list(labels))
    table.setObjectName("confusion")
    top = max((v for row in matrix for v in row), default=0) or 1
    for r, row in enumerate(matrix):
        for c, v in enumerate(row):
            item = _cell(str(v))
            alpha = int(40 + 160 * v / top) if v else 0
            color = QColor(60, 160, 90, alpha) if r == c else QColor(200, 80, 60, alpha)
            item.setBackground(QBrush(color))
            table.setItem(r, c, item)
    _fit_height(table)
    return table


def samples_grid(cmp) -> QWidget:
    """One row a sample: its prompt, then the base's and the tuned model's continuation."""
    box = QWidget()
    grid = QGridLayout(box)
    grid.setContentsMargins(0, 0, 0, 0)
    for c, head in enumerate(("Prompt (from the eval split)", f"Base: {cmp.base.name}",
                              f"Tuned: {cmp.tuned.name}")):
        label = QLabel(f"<b>{head}</b>")
        grid.addWidget(label, 0, c)
    for r, prompt in enumerate(cmp.prompts, 1):
        for c, text in enumerate((prompt, cmp.base.samples[r - 1], cmp.tuned.samples[r - 1])):
            view = QTextBrowser()
            view.setPlainText(text)
            view.setMinimumHeight(70)
            grid.addWidget(view, r, c)
    for c in range(3):
        grid.setColumnStretch(c, 1)
    return box


class CompareDialog(QDialog):
    """Shows a running comparison; ``show_result(BaseComparison)`` once it is done.
    ``cancel_requested`` when Cancel is pressed (or the dialog closed) while it runs."""

    cancel_requested = Signal()

    def __init__(self, run_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare with base: {run_name}")
        self.resize(820, 520)
        self.running = True
        self.result = None
        self.heading = QLabel(f"Measuring the base model and '{run_name}' on the data the run "
                              "held out…")
        self.heading.setWordWrap(True)
        self.heading.setObjectName("viewerTitle")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.body = QVBoxLayout()
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.heading)
        lay.addWidget(self.progress)
        lay.addLayout(self.body, 1)
        lay.addWidget(self.buttons)

    def show_progress(self, ev) -> None:
        show_progress(self.progress, ev)
        self.progress.setFormat(f"{ev.stage}{' · ' + ev.message if ev.message else ''}"
                                + ("  %p%" if ev.fraction is not None else ""))

    def _ended(self, text: str) -> None:
        self.running = False
        self.progress.hide()
        self.heading.setText(text)
        self.buttons.setStandardButtons(QDialogButtonBox.Close)
        self.buttons.setEnabled(True)

    def show_result(self, cmp) -> None:
        self.result = cmp
        what = ("classification" if cmp.classification else "language model")
        n = cmp.n_eval
        self._ended(f"{cmp.run} against its base, {what}, on the {n} example{'' if n == 1 else 's'} "
                    f"the run held out: {cmp.summary()}"
                    + (f"\n⚠ {cmp.caveat}" if cmp.caveat else ""))
        self.body.addWidget(figures_table(cmp))
        if cmp.classification:
            row = QHBoxLayout()
            for score in (cmp.base, cmp.tuned):
                group = QGroupBox(f"Confusion matrix: {score.name}")
                gl = QVBoxLayout(group)
                axes = QLabel("rows: the true label · columns: the predicted one")
                axes.setObjectName("hint")
                gl.addWidget(axes)
                gl.addWidget(confusion_table(cmp.labels, score.confusion))
                gl.addStretch(1)
                row.addWidget(group)
            self.body.addLayout(row, 1)
        else:
            note = QLabel("Perplexity per predicted token of the held-out text (lower is better). "
                          "Samples: greedy continuations of the same length.")
            note.setObjectName("hint")
            note.setWordWrap(True)
            self.body.addWidget(note)
            self.body.addWidget(samples_grid(cmp), 1)

    def show_failed(self, message: str) -> None:
        self._ended(f"The comparison failed: {message}")

    def show_cancelled(self) -> None:
        self._ended("Cancelled.")

    def reject(self) -> None:
        if self.running:
            self.cancel_requested.emit()
            self.heading.setText("Cancelling…")
            self.buttons.setEnabled(False)
            return
        super().reject()

    def closeEvent(self, event) -> None:
        if self.running:
            self.cancel_requested.emit()
            self.heading.setText("Cancelling…")
            event.ignore()
            return
        super().closeEvent(event)
