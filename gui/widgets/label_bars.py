"""Every label with its probability as a bar (the top one in bold), or any (name, score) rows."""
from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from core.classify import Prediction


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
