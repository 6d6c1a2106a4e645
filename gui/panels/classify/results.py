"""The File tab's table model: the opened file's texts, then label and score once classified."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from core.classify import Prediction

COLUMNS = ("#", "Text", "Label", "Score")


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
