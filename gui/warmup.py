"""Start-up imports off the GUI thread. The first model scan and the first page need modules that
take a second or more to import on a busy machine (the model registry, a page's core package,
PySide6's Qt namespace); imported on the GUI thread they froze the just-painted window. A plain
thread imports them first (Python hands the GUI thread the interpreter every few milliseconds),
then ``done`` arrives on the GUI thread and the start-up steps find them loaded.

``IdleImports`` does the same later for what a page's jobs need (torch, transformers,
ctranslate2...): when the user is idle and no job runs, so the pause those imports cause (the
interpreter is held while their native libraries load) falls where nobody sees it, not at the
first job."""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from core.imports import import_heavy

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
                import_heavy(name)
            except Exception:  # the step that needs it reports it where the user sees it
                log.exception("start-up: importing %s failed", name)

    @staticmethod
    def _emit(signal) -> None:
        try:
            signal.emit()
        except RuntimeError:  # the window is gone
            pass


# What each page's first job imports (a second or more on this machine, most of it with the
# interpreter held while native libraries load: the window cannot paint meanwhile). Imported ahead,
# once, by IdleImports. Fine-tune trains in its child process: nothing to import here.
JOB_MODULES = {
    "chat": ("llama_cpp",),  # GGUF models; a transformers model imports torch on load
    "classify": ("torch", "transformers", "accelerate", "peft"),
    "transcribe": ("av", "ctranslate2", "faster_whisper"),
    "finetune": (),
    "models": (),
}
IDLE_S = 2.0  # no key, click, wheel or drag for this long, and no job running
Step = tuple[str, Callable[[], object]]  # a page's work beyond imports: (name, what to call)


class IdleImports(QObject):
    """Imports the heavy modules a shown page's jobs will need at a moment nobody sees the window
    pause: the user has not touched it for ``IDLE_S`` and no job runs (no progress bar to freeze).
    One module at a time in a thread, idleness checked again before each; done once per module.
    Then the page's ``steps``: work its first job would otherwise do with the window frozen (the
    Transcribe page: parsing the Whisper tokenizer), each tried once.

        imports = IdleImports(runner, window, steps=lambda page: [("name", fn), ...])
        imports.want("classify")   imports.pending()
    """

    imported = Signal(str)  # a module is in, or a step was run

    def __init__(self, runner, parent: QObject | None = None, *, idle_s: float = IDLE_S,
                 steps: Callable[[str], list[Step]] | None = None) -> None:
        from PySide6.QtCore import QCoreApplication, QTimer

        super().__init__(parent)
        self._runner = runner
        self.idle_s = idle_s
        self._steps = steps  # page -> work beyond imports that its first job can find done
        self._done: set[str] = set()  # the steps run
        self._queue: list[str | Step] = []
        self._thread: threading.Thread | None = None
        self._last_input = time.monotonic()
        self.enabled = True
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._maybe_import)
        self._app = QCoreApplication.instance()
        self._watching = False  # the input filter is on only while modules are pending

    def want(self, page: str) -> None:
        for name in JOB_MODULES.get(page, ()):
            if name not in self._queue and name not in sys.modules:
                self._queue.append(name)
        for step in self._page_steps(page):
            if step[0] not in self._done and step[0] not in self.pending():
                self._queue.append(step)  # after the modules it needs
        if self._queue and self.enabled:
            self._watch(True)
            self._timer.start()

    def _watch(self, on: bool) -> None:
        """Every event of the app passes the filter (a Python call each): only while needed."""
        if on != self._watching and self._app is not None:
            if on:
                self._app.installEventFilter(self)
            else:
                self._app.removeEventFilter(self)
            self._watching = on

    def _page_steps(self, page: str) -> list[Step]:
        if self._steps is None:
            return []
        try:
            return list(self._steps(page))
        except Exception:  # a broken setting, say: the first job does the work itself
            log.exception("idle work for the %s page failed", page)
            return []

    def pending(self) -> list[str]:
        """The modules and steps still to do, by name."""
        return [_name(item) for item in self._queue]

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        self.enabled = False
        self._timer.stop()
        self._watch(False)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind in _INPUT_EVENTS or (kind == _MOVE and bool(event.buttons())):
            self._last_input = time.monotonic()
        return False

    def _maybe_import(self) -> None:
        self._queue = [m for m in self._queue  # a job imported it
                       if not isinstance(m, str) or m not in sys.modules]
        if not self.enabled or not self._queue:
            self._timer.stop()
            self._watch(False)
            return
        if self.busy() or time.monotonic() - self._last_input < self.idle_s \
                or self._runner.active_jobs():
            return
        item = self._queue.pop(0)
        name = _name(item)
        if not isinstance(item, str):
            self._done.add(name)  # tried once, done or not
        self._thread = threading.Thread(target=self._import, args=(item,),
                                        name=f"idle {name}")
        self._thread.start()

    def _import(self, item: str | Step) -> None:
        name = _name(item)
        try:
            if isinstance(item, str):
                import_heavy(item)  # frozen out of the collector's sight, libraries opened first
            else:
                item[1]()
        except Exception:  # not installed, or broken: the job that needs it says so
            log.info("idle work %s failed", name, exc_info=True)
        try:
            self.imported.emit(name)
        except RuntimeError:  # the window is gone
            pass


def _name(item: str | Step) -> str:
    """A queued module's name, or a step's."""
    return item if isinstance(item, str) else item[0]


def _input_events() -> tuple[frozenset, object]:
    from PySide6.QtCore import QEvent

    t = QEvent.Type
    return frozenset({t.KeyPress, t.KeyRelease, t.MouseButtonPress, t.MouseButtonRelease,
                      t.Wheel, t.TouchBegin, t.TouchUpdate}), t.MouseMove


# Typing, clicking, scrolling and dragging put the warm-up off; the pointer only passing over the
# window does not (a hover shown a little late is not felt, and a user who keeps the mouse moving
# while reading would otherwise start every first job before the warm-up)
_INPUT_EVENTS, _MOVE = _input_events()
