"""ServerSwitch: the status bar's "Local server" switch.

    switch = ServerSwitch(ctx)      a checkbox, then (while on) the URL, the requests served and
                                    the last error; starting and stopping run as jobs, so the
                                    window never waits on them
    switch.shutdown()               stop the server now (blocking; the window calls it on close)
    switch.handle                   the running core.server.ServerHandle, or None
    Signals: running(bool) once the server has started or stopped.

The server (core.server: uvicorn on a thread of its own) loads its own models, apart from the
pages'; stopping it frees the port and unloads them.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget

POLL_MS = 1000
PORT_KEY = "server/port"


class ServerSwitch(QWidget):
    running = Signal(bool)

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.handle = None
        self.toggle = QCheckBox("Local server")
        self.toggle.setToolTip("Serve the models on an OpenAI-compatible API on this machine "
                               "(127.0.0.1 only)")
        self.url = QLabel()
        self.url.setObjectName("serverUrl")
        self.url.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.figures = QLabel()
        self.error = QLabel()
        self.error.setObjectName("serverError")
        self.error.setStyleSheet("color: #b3261e;")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        for w in (self.toggle, self.url, self.figures, self.error):
            lay.addWidget(w)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.refresh)
        self.toggle.toggled.connect(self._on_toggled)
        self._show_off()

    # ---- switching -----------------------------------------------------------------------------
    def _on_toggled(self, on: bool) -> None:
        if on and self.handle is None:
            self.start()
        elif not on and self.handle is not None:
            self.stop()

    def start(self) -> None:
        from core.server import DEFAULT_PORT, ServerConfig

        port = int(self.ctx.settings.get(PORT_KEY, DEFAULT_PORT) or DEFAULT_PORT)
        config = ServerConfig(port=port, device=self.ctx.device_preference())
        home = self.ctx.home
        self.toggle.setEnabled(False)
        self.url.setText("starting…")
        self.url.show()
        self.error.hide()

        def start(cancel):
            from core.models.registry import Registry
            from core.server import ServerHandle

            return ServerHandle(config, Registry(home)).start()  # a registry of its own

        self.ctx.runner.query("Starting the local server", start, self._on_started,
                              self._on_start_failed, quiet=False)

    def _on_started(self, handle) -> None:
        self.handle = handle
        self.toggle.setEnabled(True)
        self.url.setText(handle.url)
        self.url.setToolTip(f"OpenAI-compatible base URL: {handle.url}")
        self.refresh()
        self._timer.start()
        self.running.emit(True)

    def _on_start_failed(self, exc: BaseException) -> None:
        from core.errors import describe

        self.toggle.setEnabled(True)
        self.toggle.blockSignals(True)
        self.toggle.setChecked(False)
        self.toggle.blockSignals(False)
        self._show_off()
        _title, sentence = describe(exc)
        self._show_error(sentence)
        self.running.emit(False)

    def stop(self) -> None:
        handle, self.handle = self.handle, None
        self._timer.stop()
        self.toggle.setEnabled(False)
        self.url.setText("stopping…")
        self.ctx.runner.query("Stopping the local server", lambda cancel: handle.stop(),
                              self._on_stopped, self._on_stopped, quiet=False)

    def _on_stopped(self, *_args) -> None:
        self.toggle.setEnabled(True)
        self._show_off()
        self.running.emit(False)

    def shutdown(self) -> None:
        """Stop now, blocking (the window is closing: nothing else waits on the GUI)."""
        self._timer.stop()
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.stop()

    # ---- figures -------------------------------------------------------------------------------
    def refresh(self) -> None:
        if self.handle is None:
            return
        stats = self.handle.state.stats
        n = stats.served
        self.figures.setText(f"{n} request{'' if n == 1 else 's'} served")
        self.figures.show()
        if stats.last_error:
            self._show_error(stats.last_error)

    def _show_error(self, text: str) -> None:
        short = text if len(text) <= 60 else text[:57] + "…"
        self.error.setText(f"last error: {short}")
        self.error.setToolTip(text)
        self.error.show()

    def _show_off(self) -> None:
        self.url.hide()
        self.figures.hide()
