"""Starts the GUI: logging (with a fallback when the data folder is read-only), the app object and
its icon, one window per data folder, a clean close on Ctrl-C / SIGTERM, and the --screenshot mode."""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from core.paths import AppHome

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
LOG_NAME = "workbench.log"


def fallback_log_path() -> Path:
    """Where the log goes when the data folder cannot hold it: the system's temporary folder."""
    user = os.environ.get("USER") or str(os.getuid() if hasattr(os, "getuid") else "user")
    return Path(tempfile.gettempdir()) / f"llm-workbench-{user}" / LOG_NAME


def _file_handler(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def setup_logging(home: AppHome) -> Path | None:
    """Tracebacks go to a rotating log file in the app data folder (one handler at a time). When
    that folder cannot be written (read-only, full), the log goes to a temporary folder, and when
    that fails too, to stderr. The path written to, or None for stderr."""
    root = logging.getLogger("workbench")
    root.setLevel(logging.INFO)
    for path in (home.logs / LOG_NAME, fallback_log_path()):
        if any(getattr(h, "workbench_log", False) and Path(getattr(h, "baseFilename", "")) == path
               for h in root.handlers):
            return path
        try:
            handler = _file_handler(path)
        except OSError:
            continue
        _replace_handler(root, handler)
        return path
    _replace_handler(root, logging.StreamHandler(sys.stderr))
    return None


def _replace_handler(root: logging.Logger, handler: logging.Handler) -> None:
    for h in list(root.handlers):
        if getattr(h, "workbench_log", False):
            root.removeHandler(h)
            h.close()
    handler.workbench_log = True
    root.addHandler(handler)


def check_data_folder(home: AppHome) -> str | None:
    """Make the data folder's subfolders and check that it can be written. A sentence for the
    user when it cannot (read-only, missing permission, full), else None."""
    try:
        home.ensure()
        with tempfile.NamedTemporaryFile(dir=home.root, prefix=".write-check-"):
            pass
    except OSError as exc:
        why = "is read-only" if isinstance(exc, PermissionError) or exc.errno == 30 else \
            f"cannot be written ({exc.strerror or exc})"
        return (f"The data folder {home.root} {why}: settings, chats and new models cannot be "
                "saved. Make it writable, or start the app with LLM_WORKBENCH_HOME set to a "
                "folder you can write.")
    return None


def make_app(argv: list[str] | None = None) -> QApplication:
    # the window shows progress itself: no console bars from libraries (a GGUF conversion's tqdm);
    # set before anything imports tqdm, which reads it once
    os.environ.setdefault("TQDM_DISABLE", "1")
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("LLM Workbench")
    app.setOrganizationName("LLM Workbench")
    app.setDesktopFileName("llm-workbench")  # matches the .desktop file `make install-desktop` writes
    from gui.icon import app_icon

    app.setWindowIcon(app_icon())
    style = RESOURCES / "style.qss"
    if style.is_file():
        app.setStyleSheet(style.read_text(encoding="utf-8"))
    return app


def run_app(screenshot: str | None = None, page: str | None = None, wait_idle: bool = False,
            trace: bool = False) -> int:
    """Open the window (or bring the one already open on this data folder to the front) and run
    until it closes. ``trace`` prints start-up marks on stderr (bench/startup.py reads them)."""
    from gui.excepthook import install_excepthooks
    from gui.instance import SingleInstance
    from gui.interrupt import close_on_signals

    app = make_app()
    home = AppHome.default()
    instance = None
    if not screenshot:  # a screenshot run never stands in the way of the app, nor defers to it
        instance = SingleInstance(home.root)
        if not instance.claim():
            if instance.notify_primary():
                print(f"LLM Workbench is already open on {home.root}: brought it to the front.",
                      file=sys.stderr)
                return 0
            print("warning: another LLM Workbench seems to be starting on this data folder; "
                  "opening anyway.", file=sys.stderr)
    from gui.window import MainWindow

    window = MainWindow(home)
    if instance is not None:
        instance.activate_requested.connect(window.bring_to_front)
        if trace:
            instance.activate_requested.connect(lambda: _mark("activated"))
    install_excepthooks(window.notify.show_error)
    stop_signals = close_on_signals(window.close)
    if screenshot:
        window.resize(1100, 720)  # the same picture whatever size was saved last time
    if page:
        try:
            window.show_page(page)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    def after_first_paint() -> None:
        if screenshot or trace:
            _mark("first-paint")
        if instance is not None:
            instance.serve()
        from core.runtime import use_spawn  # before any job can start a process

        use_spawn()
        # one turn of the event loop later, so the painted frame is on screen first
        QTimer.singleShot(0, window.start_up)
        if trace:
            from gui.stall_probe import StallProbe  # says what caused the longest stall

            probe = StallProbe(window, interval_ms=5)
            probe.start()
            window.ready.connect(lambda: _trace_ready(probe))
            window.closed.connect(probe.stop)  # closed before ready: its thread ends too
        if screenshot:
            QTimer.singleShot(0, take_screenshot)

    def take_screenshot() -> None:
        if wait_idle and (window.runner.active_jobs() or not window.is_ready()):
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
    if window.warmup is not None:
        window.warmup.join()
    window.device_probe.join_quick()
    if window.idle_imports is not None:
        window.idle_imports.join()
    signum = stop_signals()
    if instance is not None:
        instance.release()
    return 128 + signum if signum else code


def _mark(name: str) -> None:
    print(f"{name}-epoch {time.time():.4f}", file=sys.stderr, flush=True)


def _mark_value(name: str, value: float) -> None:
    print(f"{name} {value:.1f}", file=sys.stderr, flush=True)


def _trace_ready(probe) -> None:
    _mark("ready")
    probe.stop()
    worst = probe.worst(probe.current)
    _mark_value("max-stall-ms", probe.summary(probe.current)[0])
    if worst is not None:
        print(f"longest-stall-cause {worst.describe()}", file=sys.stderr, flush=True)
