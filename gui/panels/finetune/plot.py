"""The loss curve of a run: every logged train loss as a point with a smoothed line through them,
the eval losses as marked points (the base model's at step 0), against whole steps. The legend sits
above the chart, outside the data; until there is a point, a hint stands in for the empty chart.
A point at a step the curve already has (a resumed run going on from its checkpoint) replaces
everything from that step on, so a resumed run's curve is its whole history."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QVBoxLayout, QWidget

TRAIN = "#3b6fd8"
TRAIN_RAW = "#9db5ea"
EVAL = "#d8573b"
HINT = "The loss curve appears here from the first training step."


def smooth(ys: list[float], half: int | None = None) -> list[float]:
    """A centred moving average (no lag behind a falling loss, unlike an exponential one): each
    point is the mean of the ``half`` points on either side of it, fewer near the ends. The window
    grows with the number of points, so a short run is smoothed lightly."""
    if half is None:
        half = 0 if len(ys) < 8 else min(25, max(1, len(ys) // 20))
    if half <= 0:
        return list(ys)
    out = []
    for i in range(len(ys)):
        k = min(half, i, len(ys) - 1 - i)  # symmetric near the ends: the curve keeps its ends
        window = ys[i - k:i + k + 1]
        out.append(sum(window) / len(window))
    return out


def _int_axis(orientation: str):
    import pyqtgraph as pg

    class IntAxis(pg.AxisItem):
        """Ticks at whole numbers only: steps are counted, never fractional."""

        def tickSpacing(self, minVal, maxVal, size):
            levels = super().tickSpacing(minVal, maxVal, size)
            out = [(max(1.0, round(spacing)), offset) for spacing, offset in levels]
            return out[:1] if maxVal - minVal < 2 else out

        def tickStrings(self, values, scale, spacing):
            return [str(int(round(v))) for v in values]

    return IntAxis(orientation)


class LossPlot(QWidget):
    """Train and eval loss against the step, drawn as points arrive."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True, background="w", foreground="#333")
        self.plot = pg.PlotWidget(axisItems={"bottom": _int_axis("bottom")})
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.getViewBox().setDefaultPadding(0.08)  # the highest point stays inside
        self.plot.setMouseEnabled(x=False, y=False)
        self.raw = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(TRAIN_RAW))
        self.plot.addItem(self.raw)
        self.train = self.plot.plot([], [], pen=pg.mkPen(TRAIN, width=2))
        self.eval = self.plot.plot([], [], pen=pg.mkPen(EVAL, width=1.5, style=Qt.DashLine),
                                   symbol="o", symbolSize=9, symbolPen=pg.mkPen("w", width=1.5),
                                   symbolBrush=EVAL)
        self.points: dict[str, tuple[list, list]] = {"train": ([], []), "eval": ([], [])}
        self.legend = QLabel(
            f"<span style='color:{TRAIN_RAW}'>●</span> train loss (each step) &nbsp; "
            f"<span style='color:{TRAIN}'>━</span> train, smoothed &nbsp; "
            f"<span style='color:{EVAL}'>●</span> eval loss (step 0: the base model)")
        self.legend.setObjectName("hint")
        self.hint = QLabel(HINT)
        self.hint.setObjectName("hint")
        self.hint.setAlignment(Qt.AlignCenter)
        chart = QWidget()
        cl = QVBoxLayout(chart)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.legend)
        cl.addWidget(self.plot, 1)
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.hint)
        self.stack.addWidget(chart)

    @property
    def empty(self) -> bool:
        return not any(xs for xs, _ys in self.points.values())

    def clear(self) -> None:
        self.points = {"train": ([], []), "eval": ([], [])}
        self._redraw()

    def set_hint(self, text: str) -> None:
        """What the empty chart says (e.g. why a run has no curve)."""
        self.hint.setText(text or HINT)

    def add(self, split: str, step: int, loss: float, redraw: bool = True) -> None:
        xs, ys = self.points.setdefault(split, ([], []))
        while xs and xs[-1] >= step:  # a resumed run going on from an earlier step
            xs.pop()
            ys.pop()
        xs.append(step)
        ys.append(loss)
        if redraw:
            self._redraw()

    def set_points(self, losses: list[dict]) -> None:
        """A whole curve at once (a run on disk: run.json's losses)."""
        self.points = {"train": ([], []), "eval": ([], [])}
        for p in losses or []:
            if isinstance(p.get("loss"), (int, float)) and isinstance(p.get("step"), int):
                self.add(p.get("split", "train"), p["step"], float(p["loss"]), redraw=False)
        self._redraw()

    def _redraw(self) -> None:
        xs, ys = self.points["train"]
        self.raw.setData(xs, ys)
        self.train.setData(xs, smooth(ys))
        self.eval.setData(*self.points["eval"])
        self.stack.setCurrentIndex(0 if self.empty else 1)
