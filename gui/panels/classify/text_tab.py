"""The Classify page's Text tab: one text in, a bar per label (or the fills of a mask) out, and a
list of recent texts."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.classify import FILL_TOP_K, Prediction
from gui.widgets.label_bars import LabelBars

FILL_HINT = ("Fill-mask model: write [MASK] where a word is missing, e.g. “The capital of France "
             "is [MASK].”")


class TextTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("Type or paste a text… (Ctrl+Enter classifies)")
        self.input.setFixedHeight(110)
        self.classify_button = QPushButton("Classify")
        self.classify_button.setDefault(True)
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 50)
        self.top_k.setValue(FILL_TOP_K)
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
        lay = QVBoxLayout(self)
        lay.addWidget(self.input)
        lay.addLayout(row)
        lay.addWidget(self.notice)
        lay.addWidget(self.result_title)
        lay.addWidget(self.bars)
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
        lay.addWidget(self.recent, 1)

    def set_fill_mask(self, fill: bool) -> None:
        self.top_k.setVisible(fill)
        self.top_k_label.setVisible(fill)
        self.classify_button.setText("Fill" if fill else "Classify")
        self.mode_hint.setText(FILL_HINT if fill else "Every label of the model gets its probability.")

    def clear_result(self) -> None:
        self.bars.clear()
        self.result_title.clear()

    def show_result(self, result, max_length: int) -> None:
        """A Prediction, or the fills of each mask (a list of lists)."""
        if isinstance(result, Prediction):
            self.result_title.setText(f"<b>{result.label}</b> &nbsp; {result.score * 100:.1f} %")
            self.bars.show_prediction(result)
            self._add_recent(result)
            if result.truncated:
                self.notice.setText(f"The text is longer than the model reads ({max_length} "
                                    "tokens): only its start was classified.")
                self.notice.show()
            else:
                self.notice.hide()
            return
        self.notice.hide()
        first = result[0]
        more = f" (first of {len(result)} masks)" if len(result) > 1 else ""
        self.result_title.setText(f"<b>{first[0].sequence}</b>{more}")
        self.bars.show_rows([(f.token, f.score) for f in first])

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
