"""The loss plot of a run: train and eval loss against the step, drawn as points arrive."""
from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget


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
