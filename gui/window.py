"""The main window: a page list on the left, the pages, a notification strip, a status bar and
the Help menu. Start-up after the first paint is independent steps (show the last start's model
list and device, confirm the device without torch, scan the models, build the shown page, check the
device with torch in a child once the window is ready): one failing never stops the others."""
from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray, QSize, QTimer, Signal
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
from gui.device_probe import DeviceProbe
from gui.jobs import JobRunner
from gui.notify import FailedPage, NotificationBar
from gui.settings import Settings
from gui.widgets.server_switch import ServerSwitch
from gui.window_device import DeviceStatus

log = logging.getLogger("workbench")

FULL_CHECK_DELAY_MS = 1500  # after ready: the child importing torch competes for the CPU
FULL_CHECK_LATEST_MS = 6000  # after start-up began, ready or not
PAGES = ("chat", "classify", "transcribe", "finetune", "models")
PAGE_TITLES = {
    "chat": "Chat",
    "classify": "Classify",
    "transcribe": "Transcribe",
    "finetune": "Fine-tune",
    "models": "Models",
}


class MainWindow(DeviceStatus, QMainWindow):
    first_painted = Signal()
    closed = Signal()  # the window has closed, every job stopped: the app may quit
    ready = Signal()  # once: the shown page is built, the model list filled, the device known

    def __init__(self, home: AppHome | None = None) -> None:
        super().__init__()
        self.setWindowTitle("LLM Workbench")
        from gui.app import check_data_folder, setup_logging

        home = home or AppHome.default()
        folder_problem = check_data_folder(home)  # a read-only folder still opens the window
        self.folder_problem = ""  # the sentence shown about the data folder, if any
        self.home = home
        self.log_path = setup_logging(home)
        self.settings = Settings(home)
        self.notify = NotificationBar()
        if self.settings.problem:  # damaged: moved aside, defaults used; said once, here
            self.notify.show_info(self.settings.problem, timeout_ms=0)
        self.runner = JobRunner(self, notify=self.notify.show_error)
        self.ctx = AppContext(home, self.runner, self.settings, self.notify)
        links = self.ctx.links
        links.ask_in_chat.connect(lambda r: self.deliver("chat", "ask_about", r))
        links.open_segment.connect(lambda r: self.deliver("transcribe", "show_segment", r))
        links.train_on.connect(lambda r: self.deliver("finetune", "start_from", r))
        self.device: DeviceInfo | None = None
        self.device_probe = DeviceProbe(self)
        self.device_probe.found.connect(self._on_device_found)
        self.device_probe.failed.connect(self._on_device_failed)
        self.device_probe.guessed.connect(self._on_device_guessed)
        self._device_settled = False  # the check has answered (found or failed)
        self._full_answered = False  # the full check answered since the last probe_device
        self._ready = False
        self.ctx.models.changed.connect(self._check_ready)
        self.warmup = None  # the start-up imports' thread (start_up)
        self.idle_imports = None  # the pages' job modules, imported while idle (start_up)
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
        rlay.addWidget(self.stack, 1)
        self.notify.overlay(right)  # over the page, never pushing it down
        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.nav)
        lay.addWidget(right, 1)
        self.setCentralWidget(central)

        # status bar: device (with its reason as tooltip) on the left, the running jobs on the
        # right; another feature's indicator goes in with sb.addPermanentWidget(widget)
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
        self.server_switch = ServerSwitch(self.ctx)  # the local OpenAI-compatible server
        sb.addWidget(self.server_switch)
        self.closed.connect(self.server_switch.shutdown)
        from gui.widgets.loaded_models import LoadedModels  # what the model cache holds
        sb.addPermanentWidget(LoadedModels(self.ctx, self))
        sb.addPermanentWidget(self.job_label)
        sb.addPermanentWidget(self.cancel_jobs_button)
        self.runner.jobs_changed.connect(self._on_jobs_changed)

        pref = self.settings.get("device/preference", "auto")
        i = self.device_choice.findData(pref)
        self.device_choice.setCurrentIndex(max(0, i))
        self.device_choice.currentIndexChanged.connect(self._on_device_choice)

        from gui.about import add_help_menu

        add_help_menu(self)
        self.setMinimumSize(760, 520)
        geometry = self.settings.get("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1100, 720)
        self.show_page(self.settings.get("window/page", "chat") or "chat")  # first start: Chat
        if folder_problem:
            log.warning("%s", folder_problem)
            where = f"The log is written to {self.log_path}." if self.log_path else \
                "The log goes to the terminal (stderr)."
            self.folder_problem = f"{folder_problem} {where}"
            self.notify.show_info(self.folder_problem, timeout_ms=0)

    # ---- pages -----------------------------------------------------------------------------
    def show_page(self, key: str) -> None:
        key = key.lower().replace("-", "")
        if key not in PAGES:
            raise ValueError(f"no page '{key}' (pages: {', '.join(PAGES)})")
        if self.nav.currentRow() == PAGES.index(key):
            self._on_nav(PAGES.index(key))  # the start page: no row change, still built
        self.nav.setCurrentRow(PAGES.index(key))

    def try_model(self, page: str, model_id: str, title: str | None = None) -> None:
        """Open a (just trained) model in Chat (a new chat called ``title``) or Classify."""
        self.show_page(page)
        widget = self.page(page)
        if title and hasattr(widget, "open_new_chat"):
            widget.open_new_chat(model_id, title)
        else:
            widget.select_model(model_id)

    def deliver(self, key: str, method: str, request) -> None:
        """A request from another page (gui.links): show the page that answers it (built if
        needed) and hand it the request."""
        self.show_page(key)
        widget = self.page(key)
        handler = getattr(widget, method, None)
        if handler is None:  # the page could not be built: its place already says why
            self.notify.show_info(f"The {PAGE_TITLES[key]} page cannot take this request now.")
            return
        handler(request)

    def current_page(self) -> str:
        return PAGES[self.stack.currentIndex()]

    def page(self, key: str) -> QWidget:
        """The page widget, built on first use. When building fails, the error goes to the
        notification strip and the page's place says why, with Try again; the rest of the window
        goes on."""
        if key not in PAGES:
            raise ValueError(f"no page '{key}' (pages: {', '.join(PAGES)})")
        if key not in self.pages or isinstance(self.pages[key], FailedPage):
            try:
                widget = self._build_page(key)
            except Exception as exc:
                log.exception("building the %s page failed", key)
                self.notify.show_error(exc)
                widget = FailedPage(PAGE_TITLES[key], exc, self.folder_problem)
                widget.retry.connect(lambda k=key: self.page(k))
            self._place_page(key, widget)
        return self.pages[key]

    def _build_page(self, key: str) -> QWidget:
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
        else:
            from gui.panels.classify import ClassifyPanel

            widget = ClassifyPanel(self.ctx)
        return widget

    def _place_page(self, key: str, widget: QWidget) -> None:
        if hasattr(widget, "set_models"):
            # pages with their own model list follow the one broadcast (others use ModelBox)
            self.ctx.models.changed.connect(widget.set_models)
            if self.ctx.models.listed:
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
        self._check_ready()

    def _on_nav(self, row: int) -> None:
        if row >= 0:
            self.stack.setCurrentIndex(row)
            self.settings.set("window/page", PAGES[row])
            if self._painted:
                self.page(PAGES[row])  # a page that cannot be built says so in its place
            if self.idle_imports is not None:
                self.idle_imports.want(PAGES[row])

    # ---- first paint, then the background work -----------------------------------------------
    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_painted.emit()

    def start_up(self) -> None:
        """The app's start-up after the first paint: the last start's model list and device show
        at once, the quick device check runs in a thread, the slow imports in another, then the
        model scan and the shown page; the torch device check (a child process) once the window
        is ready (at the latest after FULL_CHECK_LATEST_MS). The window paints and answers all
        along."""
        from gui.warmup import IdleImports, Warmup

        if self._closing:
            return
        self.idle_imports = IdleImports(self.runner, self, steps=self._idle_steps)
        self.runner.before_work = self.idle_imports.join  # never import beside a job
        self.ready.connect(lambda: self.idle_imports.want(self.current_page()))
        self._guarded("showing the last model list", self.ctx.models.show_saved)
        self._guarded("checking the device", lambda: self.probe_device(full=False))
        self.ready.connect(lambda: QTimer.singleShot(FULL_CHECK_DELAY_MS, self._full_check))
        QTimer.singleShot(FULL_CHECK_LATEST_MS, self._full_check)  # a start-up step failed
        self._check_ready()
        self.warmup = Warmup(self.current_page(), self)
        self.warmup.registry_ready.connect(
            lambda: self._closing or self._guarded("scanning the models", self.ctx.models.refresh))
        self.warmup.done.connect(lambda: self._closing or (
            self._guarded("opening the page", lambda: self.page(self.current_page())),
            self._show_folder_problem()))
        self.warmup.start()

    def _idle_steps(self, page: str) -> list:
        """Work beyond imports that a page's first job finds done when the user was idle."""
        if page == "transcribe":
            from gui.panels.transcribe.engine import idle_steps

            return idle_steps(self.ctx)
        return []

    def _guarded(self, name: str, step) -> None:
        try:
            step()
        except Exception as exc:
            log.exception("start-up: %s failed", name)
            self.notify.show_error(exc)
            if name == "checking the device":
                self._on_device_failed(exc)

    def _show_folder_problem(self) -> None:
        if self.folder_problem:  # the cause in front of what it broke
            self.notify.show_info(self.folder_problem, timeout_ms=0)

    def start_background(self) -> None:
        """All start-up work at once (tests, scripts); each step runs whatever the others do."""
        if self._closing:  # closed before start-up came round (Ctrl-C at once)
            return
        self._guarded("showing the last model list", self.ctx.models.show_saved)
        self._guarded("checking the device", self.probe_device)
        self._guarded("scanning the models", self.ctx.models.refresh)
        self._guarded("opening the page", lambda: self.page(self.current_page()))
        self._show_folder_problem()

    def is_ready(self) -> bool:
        """The shown page is built (or says why it cannot be), the model list is filled (the last
        start's or a scan's) and the device known (by a check or from the last start)."""
        device = self.device is not None or self._device_settled
        return self.current_page() in self.pages and self.ctx.models.listed and device

    def _check_ready(self, *_args) -> None:
        if not self._ready and self.is_ready():
            self._ready = True
            self.ready.emit()

    def bring_to_front(self) -> None:
        """Another start on this data folder asked for this window."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

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
            self.device_probe.stop()
            if self.idle_imports is not None:
                self.idle_imports.stop()
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
            self.device_probe.stop()
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
