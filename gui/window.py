"""The main window: a page list on the left, the pages, a notification strip and a status bar."""
from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray, QSize, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.device import DeviceInfo, DevicePreference
from core.paths import AppHome
from gui.context import AppContext
from gui.jobs import Job, JobRunner
from gui.notify import NotificationBar
from gui.settings import Settings

log = logging.getLogger("workbench")

PAGES = ("chat", "classify", "transcribe", "finetune", "models")
PAGE_TITLES = {
    "chat": "Chat",
    "classify": "Classify",
    "transcribe": "Transcribe",
    "finetune": "Fine-tune",
    "models": "Models",
}
def device_probe(preference: str, cancel):
    """Core call wrapped as a job: imports torch off the GUI thread."""
    from core.device import choose_device
    from core.events import Done

    cancel.raise_if_cancelled()
    yield Done(result=choose_device(preference))


class MainWindow(QMainWindow):
    first_painted = Signal()
    closed = Signal()  # the window has closed, every job stopped: the app may quit

    def __init__(self, home: AppHome | None = None) -> None:
        super().__init__()
        self.setWindowTitle("LLM Workbench")
        home = (home or AppHome.default()).ensure()
        from gui.app import setup_logging

        setup_logging(home)
        self.settings = Settings(home)
        self.notify = NotificationBar()
        self.runner = JobRunner(self, notify=self.notify.show_error)
        self.ctx = AppContext(home, self.runner, self.settings, self.notify)
        self.device: DeviceInfo | None = None
        self._painted = False
        self._closing = False  # quit was asked: jobs are cancelled, the window closes when idle
        self._close_requests = 0
        self._closed = False

        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(170)
        self.nav.setIconSize(QSize(18, 18))
        self.stack = QStackedWidget()
        # Pages are built on first show, after the first paint: their modules import the model
        # registry and more, which the window does not need to appear.
        self.pages: dict[str, QWidget] = {}
        for key in PAGES:
            self.stack.addWidget(QWidget())
            item = QListWidgetItem(PAGE_TITLES[key])
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self._on_nav)

        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        rlay.setSpacing(0)
        rlay.addWidget(self.notify)
        rlay.addWidget(self.stack, 1)
        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.nav)
        lay.addWidget(right, 1)
        self.setCentralWidget(central)

        # status bar: device (with its reason as tooltip) and the running jobs
        self.device_label = QLabel("Device: detecting…")
        self.device_choice = QComboBox()
        for p in DevicePreference:
            self.device_choice.addItem(p.value, p.value)
        self.device_choice.setToolTip("Which device runs the models")
        self.job_label = QLabel("Ready")
        self.job_label.setObjectName("jobLabel")
        self.cancel_jobs_button = QPushButton("Cancel")
        self.cancel_jobs_button.setFlat(True)
        self.cancel_jobs_button.hide()
        self.cancel_jobs_button.clicked.connect(self.runner.cancel_all)
        sb = self.statusBar()
        sb.addWidget(self.device_label)
        sb.addWidget(self.device_choice)
        sb.addPermanentWidget(self.job_label)
        sb.addPermanentWidget(self.cancel_jobs_button)
        self.runner.jobs_changed.connect(self._on_jobs_changed)

        pref = self.settings.get("device/preference", "auto")
        i = self.device_choice.findData(pref)
        self.device_choice.setCurrentIndex(max(0, i))
        self.device_choice.currentIndexChanged.connect(self._on_device_choice)

        self.setMinimumSize(760, 520)
        geometry = self.settings.get("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1100, 720)
        self.show_page(self.settings.get("window/page", "models") or "models")

    # ---- pages -----------------------------------------------------------------------------
    def show_page(self, key: str) -> None:
        key = key.lower().replace("-", "")
        if key not in PAGES:
            raise ValueError(f"no page '{key}' (pages: {', '.join(PAGES)})")
        self.nav.setCurrentRow(PAGES.index(key))

    def try_model(self, page: str, model_id: str, title: str | None = None) -> None:
        """Open a (just trained) model in Chat (a new chat called ``title``) or Classify."""
        self.show_page(page)
        widget = self.page(page)
        if title and hasattr(widget, "open_new_chat"):
            widget.open_new_chat(model_id, title)
        else:
            widget.select_model(model_id)

    def current_page(self) -> str:
        return PAGES[self.stack.currentIndex()]

    def page(self, key: str) -> QWidget:
        """The page widget, built on first use."""
        if key not in self.pages:
            if key == "models":
                from gui.panels.models import ModelsPanel

                widget = ModelsPanel(self.ctx)
            elif key == "transcribe":
                from gui.panels.transcribe import TranscribePanel

                widget = TranscribePanel(self.ctx)
            elif key == "finetune":
                from gui.panels.finetune import FinetunePanel

                widget = FinetunePanel(self.ctx)
                widget.connect_try(self.try_model)
            elif key == "chat":
                from gui.panels.chat import ChatPanel

                widget = ChatPanel(self.ctx)
            elif key == "classify":
                from gui.panels.classify import ClassifyPanel

                widget = ClassifyPanel(self.ctx)
            else:
                raise ValueError(f"no page '{key}' (pages: {', '.join(PAGES)})")
            if hasattr(widget, "set_models"):
                # pages with their own model list follow the one broadcast (others use ModelBox)
                self.ctx.models.changed.connect(widget.set_models)
                if self.ctx.models.scanned:
                    widget.set_models(self.ctx.models.entries)
            widget.setObjectName(f"page-{key}")
            index = PAGES.index(key)
            placeholder = self.stack.widget(index)
            self.stack.insertWidget(index, widget)
            self.stack.removeWidget(placeholder)
            placeholder.deleteLater()
            self.pages[key] = widget
            if self.nav.currentRow() == index:
                self.stack.setCurrentIndex(index)
        return self.pages[key]

    def _on_nav(self, row: int) -> None:
        if row >= 0:
            self.stack.setCurrentIndex(row)
            self.settings.set("window/page", PAGES[row])
            if self._painted:
                try:
                    self.page(PAGES[row])
                except Exception as exc:  # a page that cannot be built must not take the app down
                    log.exception("building the %s page failed", PAGES[row])
                    self.notify.show_error(exc)

    # ---- first paint, then the background work -----------------------------------------------
    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_painted.emit()

    def start_background(self) -> None:
        """Work that may import heavy modules: only after the window has painted."""
        self.page(self.current_page())
        self.probe_device()
        self.ctx.models.refresh()

    def probe_device(self) -> Job:
        pref = self.device_choice.currentData()
        self.device_label.setText("Device: detecting…")
        job = self.runner.start("Detecting device", lambda c: device_probe(pref, c), quiet=True)
        job.event.connect(self._on_device_event)
        job.failed.connect(self._on_device_failed)
        return job

    def _on_device_event(self, ev) -> None:
        if isinstance(ev.result, DeviceInfo):
            self.device = ev.result
            self.device_label.setText(self.device.label)
            self.device_label.setToolTip(self.device.reason)

    def _on_device_failed(self, exc) -> None:
        self.device_label.setText("Device: unavailable")
        self.notify.show_error(exc)

    def _on_device_choice(self) -> None:
        self.settings.set("device/preference", self.device_choice.currentData())
        self.probe_device()

    def _on_jobs_changed(self, names: list) -> None:
        visible = names
        if visible:
            more = f" (+{len(visible) - 1})" if len(visible) > 1 else ""
            self.job_label.setText(f"Running: {visible[0]}{more}")
            self.cancel_jobs_button.show()
        else:
            self.job_label.setText("Ready")
            self.cancel_jobs_button.hide()

    # ---- quit --------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        """Quit never destroys a running thread: every job is cancelled and the window stays open
        (responsive, "Finishing…") until the last one has stopped, then the pages shut down (save,
        close their stores and engines) and the window closes."""
        if not self._closing:
            self._closing = True
            self.settings.set("window/geometry", self.saveGeometry())
            self.settings.sync()
            self.runner.cancel_all()
            self.runner.jobs_changed.connect(self._show_finishing)
            self.runner.idle.connect(self.close)
        self._close_requests += 1
        if self.runner.active_jobs():
            event.ignore()
            self._show_finishing()
            if self._close_requests > 1:
                self.hide()  # asked twice: out of sight, but the threads still end first
            return
        if not self._closed:
            self._closed = True
            for key, page in self.pages.items():
                try:
                    if hasattr(page, "shutdown"):
                        page.shutdown()
                except Exception:  # quitting never fails: log it and go on
                    log.exception("shutting down the %s page failed", key)
            super().closeEvent(event)
            self.closed.emit()

    def _show_finishing(self, *_args) -> None:
        self.runner.cancel_all()  # a job started while finishing is stopped too
        n = len(self.runner.active_jobs())
        if n:
            self.job_label.setText(f"Finishing… ({n} job{'s' if n > 1 else ''})")
            self.notify.show_info(f"Finishing… ({n} job{'s' if n > 1 else ''}): the window "
                                  "closes when they have stopped.", timeout_ms=0)
