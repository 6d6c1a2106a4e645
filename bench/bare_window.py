"""Baseline for bench/startup.py: a bare PySide6 window doing what `main.py --screenshot` does
(show, wait for the first paint, save a PNG, exit), with nothing of the app in it."""
import sys
import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow


class Window(QMainWindow):
    painted = Signal()

    def __init__(self):
        super().__init__()
        self._done = False
        self.setCentralWidget(QLabel("bare window"))
        self.resize(1100, 720)

    def paintEvent(self, event):
        super().paintEvent(event)
        if not self._done:
            self._done = True
            self.painted.emit()


def main() -> int:
    path = sys.argv[1]
    app = QApplication(sys.argv[:1])
    win = Window()

    def shoot():
        win.grab().save(path)
        win.close()

    def painted():
        print(f"first-paint-epoch {time.time():.4f}", file=sys.stderr, flush=True)
        QTimer.singleShot(0, shoot)

    win.painted.connect(painted)
    win.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
