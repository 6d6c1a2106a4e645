"""The Classify page's File tab: the opened file as a table filling in batch by batch (a label
double-clicked can be corrected), a chart of the labels, and Open / Column / Classify file /
Cancel / Export / Use as training data."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.classify import InputTable
from gui.panels.classify.results import CORRECTED, LABEL, LabelDelegate, ResultsModel
from gui.widgets.counts_chart import CountsChart


class FileTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        self.train_button = QPushButton("Use as training data…")
        self.train_button.setToolTip("Write the texts with their labels (yours where you "
                                     "corrected one) as a text,label CSV and open a "
                                     "fine-tuning run on it")
        self.corrected_only = QCheckBox("Corrected rows only")
        self.corrected_only.setToolTip("Unticked: every classified row, with your corrections")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status = QLabel()
        self.status.setObjectName("hint")
        self.results = ResultsModel(self)
        self.view = QTableView()
        self.view.setModel(self.results)
        self.view.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.setItemDelegateForColumn(LABEL, LabelDelegate(self.view))
        self.view.setEditTriggers(QAbstractItemView.DoubleClicked
                                  | QAbstractItemView.EditKeyPressed)
        self.view.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        # fixed widths, set from the content's shape: sizing to contents would ask every row
        # again after each batch, which slowed a running file by half
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        self.size_columns(["negative", "positive"], 1000)
        self.chart = CountsChart()
        bar = QHBoxLayout()
        for w in (self.open_button, self.column_label, self.column_box, self.run_button,
                  self.cancel_button):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.export_button)
        bar.addWidget(self.corrected_only)
        bar.addWidget(self.train_button)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.chart)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.file_label)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        self.column_box.hide()
        self.column_label.hide()

    def show_table(self, table: InputTable, labels: list[str]) -> None:
        self.column_box.blockSignals(True)
        self.column_box.clear()
        for c in table.columns:  # [] for one text per line
            self.column_box.addItem(c)
        self.column_box.setCurrentText(table.column)
        self.column_box.blockSignals(False)
        self.column_box.setVisible(bool(table.columns))
        self.column_label.setVisible(bool(table.columns))
        self.results.reset(table.texts)
        self.size_columns(labels, len(table.texts))
        self.chart.set_counts({})
        self.progress.setValue(0)
        self.progress.setFormat("")
        skipped = f" · {table.skipped} empty left out" if table.skipped else ""
        what = f"column '{table.column}'" if table.kind == "table" else "one text per line"
        self.file_label.setText(f"{Path(table.path).name}: {len(table.texts):,} texts ({what}, "
                                f"{table.encoding}){skipped}")
        self.status.clear()

    def size_columns(self, labels: list[str], rows: int) -> None:
        fm = self.view.fontMetrics()
        pad = 24
        header = self.view.horizontalHeader()
        header.resizeSection(0, fm.horizontalAdvance(f"{max(rows, 10):d}") + pad)
        header.resizeSection(2, max([fm.horizontalAdvance(x) for x in labels + ["Label"]]) + pad)
        header.resizeSection(3, fm.horizontalAdvance("0.0000") + pad)
        header.resizeSection(CORRECTED, max([fm.horizontalAdvance(f"✎ was {x}") for x in labels]
                                            + [fm.horizontalAdvance("Corrected")]) + pad)

    def done_count(self) -> int:
        return sum(p is not None for p in self.results.preds)
