"""A small bar chart of how many rows got each label (pyqtgraph, imported when first built); a
hint in its place until there is something to draw."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

EMPTY_HINT = "Rows per label appear here once a file is classified."


class CountsChart(QWidget):
    """How many rows got each label, as a small bar chart."""

    def __init__(self, parent: QWidget | None = None, hint: str = EMPTY_HINT) -> None:
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
        self.hint = QLabel(hint)
        self.hint.setObjectName("hint")
        self.hint.setAlignment(Qt.AlignCenter)
        self.hint.setWordWrap(True)
        self.stack = QStackedLayout(self)
        self.stack.setContentsMargins(0, 0, 0, 0)
        self.stack.addWidget(self.hint)
        self.stack.addWidget(self.plot)

    @property
    def empty(self) -> bool:
        """No data yet: the hint shows instead of an empty plot."""
        return self.stack.currentWidget() is self.hint

    def set_counts(self, counts: dict[str, int]) -> None:
        self.counts = dict(counts)
        pg = self._pg
        if self.bars is not None:
            self.plot.removeItem(self.bars)
            self.bars = None
        labels = list(counts)
        self.stack.setCurrentWidget(self.plot if labels else self.hint)
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
