"""Starts the GUI: logging, style, the window, and the --screenshot mode."""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from core.paths import AppHome

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def setup_logging(home: AppHome) -> Path:
    """Tracebacks go to a rotating log file in the app data folder (one handler at a time)."""
    path = home.logs / "workbench.log"
    root = logging.getLogger("workbench")
    for h in list(root.handlers):
        if getattr(h, "workbench_log", False):
            if Path(h.baseFilename) == path:
                return path
            root.removeHandler(h)
            h.close()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3,
                                                   encoding="utf-8")
    handler.workbench_log = True
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


def make_app(argv: list[str] | None = None) -> QApplication:
    # the window shows progress itself: no console bars from libraries (a GGUF conversion's tqdm);
    # set before anything imports tqdm, which reads it once
    os.environ.setdefault("TQDM_DISABLE", "1")
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("LLM Workbench")
    app.setOrganizationName("LLM Workbench")
    style = RESOURCES / "style.qss"
    if style.is_file():
        app.setStyleSheet(style.read_text(encoding="utf-8"))
    return app


def run_app(screenshot: str | None = None, page: str | None = None, wait_idle: bool = False) -> int:
    from gui.window import MainWindow

    app = make_app()
    home = AppHome.default().ensure()
    window = MainWindow(home)
    if screenshot:
        window.resize(1100, 720)  # the same picture whatever size was saved last time
    if page:
        try:
            window.show_page(page)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    def after_first_paint() -> None:
        if screenshot:
            print(f"first-paint-epoch {time.time():.4f}", file=sys.stderr, flush=True)
        from core.runtime import use_spawn  # before any job can start a process

        use_spawn()
        # one turn of the event loop later, so the painted frame is on screen first
        QTimer.singleShot(0, window.start_background)
        if screenshot:
            QTimer.singleShot(0, take_screenshot)

    def take_screenshot() -> None:
        if wait_idle and window.runner.active_jobs():
            QTimer.singleShot(100, take_screenshot)
            return
        if not window.grab().save(screenshot):
            print(f"error: cannot write the screenshot to '{screenshot}'", file=sys.stderr)
            app.exit(1)
            return
        print(f"screenshot saved: {screenshot}", file=sys.stderr)
        window.close()

    window.first_painted.connect(after_first_paint)
    window.closed.connect(app.quit)  # only once every job has stopped
    window.show()
    code = app.exec()
    window.runner.shutdown()  # nothing runs by now; never let Qt destroy a running thread
    return code
