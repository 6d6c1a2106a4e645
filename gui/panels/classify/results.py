"""The File tab's table model: the opened file's texts, then label and score once classified.
A label can be corrected (double-click it: a list of the model's labels); a corrected row shows
its label in bold colour and, in the last column, what the model said."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate

from core.classify import Prediction

COLUMNS = ("#", "Text", "Label", "Score", "Corrected")
LABEL, CORRECTED = 2, 4
CORRECTED_COLOUR = QColor("#d9822b")  # reads on the light and the dark theme


class ResultsModel(QAbstractTableModel):
    """Rows of the opened file: the text, then label and score once its batch is done; the
    labels the user corrected (row -> label) in ``corrected``."""

    relabelled = Signal(str, str)  # a row's label changed by a correction: (before, after)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.texts: list[str] = []
        self.preds: list[Prediction | None] = []
        self.labels: list[str] = []  # the model's labels: what a correction can pick
        self.model_id = ""  # the classifier that made the predictions
        self.corrected: dict[int, str] = {}

    def reset(self, texts: list[str]) -> None:
        self.beginResetModel()
        self.texts = list(texts)
        self.preds = [None] * len(texts)
        self.corrected = {}
        self.endResetModel()

    def clear_results(self) -> None:
        self.preds = [None] * len(self.texts)
        self.corrected = {}
        if self.texts:
            self.dataChanged.emit(self.index(0, 2), self.index(len(self.texts) - 1, CORRECTED))

    def set_batch(self, indices, preds) -> None:
        for i, p in zip(indices, preds):
            self.preds[i] = p
        if indices:
            self.dataChanged.emit(self.index(min(indices), 2), self.index(max(indices), 3))

    def label(self, row: int) -> str | None:
        """The row's label: the corrected one, else the predicted one (None: not classified)."""
        pred = self.preds[row]
        return self.corrected.get(row, pred.label if pred is not None else None)

    def correct(self, row: int, label: str) -> bool:
        """Set the row's label; back to the predicted one, the row is no longer corrected."""
        pred = self.preds[row]
        if pred is None or label not in self.labels:
            return False
        before = self.label(row)
        if label == pred.label:
            self.corrected.pop(row, None)
        else:
            self.corrected[row] = label
        self.dataChanged.emit(self.index(row, 0), self.index(row, CORRECTED))
        if before != label:
            self.relabelled.emit(before, label)
        return True

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else len(self.texts)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return COLUMNS[section]
        return None

    def flags(self, index):
        f = super().flags(index)
        if (index.isValid() and index.column() == LABEL and self.labels
                and self.preds[index.row()] is not None):
            f |= Qt.ItemIsEditable
        return f

    def setData(self, index, value, role=Qt.EditRole) -> bool:
        if role != Qt.EditRole or not index.isValid() or index.column() != LABEL:
            return False
        return self.correct(index.row(), str(value))

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        pred = self.preds[row]
        fixed = row in self.corrected
        if role in (Qt.DisplayRole, Qt.EditRole):
            if col == 0:
                return row + 1
            if col == 1:
                text = self.texts[row]
                return text if len(text) <= 300 else text[:300] + "…"
            if pred is None:
                return ""
            if col == LABEL:
                return self.label(row)
            if col == CORRECTED:
                return f"✎ was {pred.label}" if fixed else ""
            return f"{pred.score:.3f}"
        if fixed and role == Qt.FontRole and col in (LABEL, CORRECTED):
            font = QFont()
            font.setBold(True)
            return font
        if fixed and role == Qt.ForegroundRole and col in (LABEL, CORRECTED):
            return CORRECTED_COLOUR
        if role == Qt.ToolTipRole and col == 1:
            return self.texts[row][:2000]
        if role == Qt.ToolTipRole and col in (LABEL, 3) and pred is not None:
            hint = ("\nCorrected by you: the model said " + pred.label if fixed else "") + (
                "\nDouble-click to correct the label." if col == LABEL and self.labels else "")
            return "\n".join(f"{k}: {v:.3f}" for k, v in pred.scores.items()) + (
                "\n(truncated: only the start was read)" if pred.truncated else "") + hint
        if role == Qt.TextAlignmentRole and col in (0, 3):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None


class LabelDelegate(QStyledItemDelegate):
    """Edits a label cell with a list of the model's labels."""

    def createEditor(self, parent, option, index):
        combo = QComboBox(parent)
        combo.addItems(index.model().labels)
        combo.activated.connect(lambda _i: self._commit(combo))  # a pick in the list is final
        QTimer.singleShot(0, combo.showPopup)  # double-click, then pick: the list opens at once
        return combo

    def _commit(self, combo) -> None:
        self.commitData.emit(combo)
        self.closeEditor.emit(combo)

    def setEditorData(self, editor, index) -> None:
        editor.setCurrentText(str(index.data(Qt.EditRole) or ""))

    def setModelData(self, editor, model, index) -> None:
        model.setData(index, editor.currentText(), Qt.EditRole)
