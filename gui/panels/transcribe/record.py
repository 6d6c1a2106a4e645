"""The record controls: a Record / Stop button, a level meter and the elapsed time. A finished
recording is announced with ``recorded(path)``; the page queues it."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from core.cancel import CancelToken
from core.events import Done, Event

RECORD, STOP, FINISHING = "● Record", "■ Stop recording", "Finishing…"


class RecordControls(QWidget):
    recorded = Signal(str)  # the WAV file of a finished recording

    def __init__(self, ctx, stream_factory=None) -> None:
        super().__init__()
        self.ctx = ctx
        self.stream_factory = stream_factory  # tests pass a fake microphone
        self.job = None
        self.stop: CancelToken | None = None
        self.button = QPushButton(RECORD)
        self.button.setObjectName("recordButton")
        self.level = QProgressBar()
        self.level.setRange(0, 100)
        self.level.setTextVisible(False)
        self.level.setFixedWidth(120)
        self.level.setFixedHeight(10)
        self.level.hide()
        self.label = QLabel()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.button)
        lay.addWidget(self.level)
        lay.addWidget(self.label)
        self.button.clicked.connect(self.toggle)

    def toggle(self) -> None:
        if self.job is not None:
            self.stop.cancel()  # stop and keep: the recording is then transcribed
            self.button.setText(FINISHING)
            return
        from core.transcribe import record

        stop = CancelToken()
        self.stop = stop
        folder = self.ctx.home.root / "recordings"
        factory = self.stream_factory
        self.job = self.ctx.runner.start(
            "Recording", lambda c: record(stop, c, folder, stream_factory=factory))
        self.job.event.connect(self._on_event)
        self.job.failed.connect(self.ctx.notify.show_error)
        self.job.finished.connect(self._on_finished)
        self.button.setText(STOP)
        self.level.show()
        self.label.setText("0:00")

    def _on_event(self, ev: Event) -> None:
        from core.transcribe import Level

        if isinstance(ev, Level):
            self.level.setValue(min(100, int(ev.peak * 100)))
            m, s = divmod(int(ev.elapsed), 60)
            self.label.setText(f"{m}:{s:02d}")
        elif isinstance(ev, Done):
            self.recorded.emit(ev.result.path)

    def _on_finished(self) -> None:
        self.job = None
        self.stop = None
        self.button.setText(RECORD)
        self.level.hide()
        self.label.setText("")
