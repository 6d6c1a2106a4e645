"""Start-up imports off the GUI thread. The first model scan and the first page need modules that
take a second or more to import on a busy machine (the model registry, a page's core package,
PySide6's Qt namespace); imported on the GUI thread they froze the just-painted window. A plain
thread imports them first (Python hands the GUI thread the interpreter every few milliseconds),
then ``done`` arrives on the GUI thread and the start-up steps find them loaded."""
from __future__ import annotations

import importlib
import logging
import threading

from PySide6.QtCore import QObject, Signal

log = logging.getLogger("workbench")

# what each page's first build imports beyond the registry (never torch: see tests/core). Page
# modules only define classes, so importing them off the GUI thread is safe; Fine-tune's is left
# to the GUI thread (pyqtgraph looks at the running QApplication when imported).
PAGE_MODULES = {
    "chat": ("core.chat", "gui.panels.chat"),
    "classify": ("core.classify", "gui.panels.classify"),
    "transcribe": ("core.transcribe", "gui.panels.transcribe"),
    "finetune": ("core.finetune",),
    "models": ("gui.panels.models",),
}
COMMON = ("core.models", "core.models.registry")


def _qt_namespace() -> None:
    from PySide6.QtCore import Qt  # its enums are built on first use

    _ = (Qt.DirectConnection, Qt.TextSelectableByMouse, Qt.AlignLeft, Qt.UserRole)


class Warmup(QObject):
    registry_ready = Signal()  # the registry's modules are in: the model scan may start
    done = Signal()  # the page's modules too

    def __init__(self, page: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.page_modules = PAGE_MODULES.get(page, ())
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="start-up imports")
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            _qt_namespace()
            self._import(COMMON)
            self._emit(self.registry_ready)
            self._import(self.page_modules)
        finally:
            self._emit(self.done)

    @staticmethod
    def _import(names: tuple[str, ...]) -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # the step that needs it reports it where the user sees it
                log.exception("start-up: importing %s failed", name)

    @staticmethod
    def _emit(signal) -> None:
        try:
            signal.emit()
        except RuntimeError:  # the window is gone
            pass
