"""Live mode's controls: a Live / Stop button, the input device and a level meter. Live checks the
microphone, loads the page's model, then runs ``core.transcribe.live`` in a job on a queue row of
its own: segments appear in the viewer as they are heard (the tentative tail greyed), and Stop
turns the row into a normal finished one (recording and transcript; exports work)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from core.cancel import CancelToken
from core.errors import BadInput
from core.events import Done, Event
from gui.panels.transcribe.queue import QueueItem

LIVE, STOP, FINISHING = "◉ Live", "■ Stop live", "Finishing…"
DEFAULT_DEVICE = "Default microphone"


def _check_job(cancel):
    from core.transcribe import check_input_device

    yield Done(result=check_input_device())


def _devices_job(cancel):
    from core.transcribe.live import input_devices

    yield Done(result=input_devices())


class LiveControls(QWidget):
    def __init__(self, panel, stream_factory=None) -> None:
        super().__init__()
        self.panel = panel
        self.ctx = panel.ctx
        self.stream_factory = stream_factory  # tests pass a file played at real time
        self.job = None
        self.stop: CancelToken | None = None
        self.item: QueueItem | None = None
        self.button = QPushButton(LIVE)
        self.button.setObjectName("liveButton")
        self.button.setToolTip("Transcribe the microphone while you speak.")
        self.device = QComboBox()
        self.device.addItem(DEFAULT_DEVICE, None)
        self.device.setToolTip("The input device live mode listens to.")
        self.level = QProgressBar()
        self.level.setRange(0, 100)
        self.level.setTextVisible(False)
        self.level.setFixedSize(80, 10)
        self.level.hide()
        self.label = QLabel()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.button, self.device, self.level, self.label):
            lay.addWidget(w)
        self.button.clicked.connect(self.toggle)
        if stream_factory is None:
            job = self.ctx.runner.start("Listing microphones", _devices_job, quiet=True,
                                        notify=False)
            job.event.connect(self._on_devices)

    def _on_devices(self, ev: Event) -> None:
        if isinstance(ev, Done):
            for name in ev.result:
                self.device.addItem(name, name)

    def toggle(self) -> None:
        if self.job is not None:
            self.stop.cancel()  # stop and keep: what is still queued is transcribed too
            self.button.setText(FINISHING)
            self.button.setEnabled(False)
            return
        if self.item is not None and not self.item.finished:
            return  # loading the model
        if self.panel.current is not None:
            self.ctx.notify.show_info("Live mode starts once the files in the queue are done.")
            return
        self.panel.options_box.save()
        try:
            options = self.panel.options().validate()
        except BadInput as exc:
            self.ctx.notify.show_error(exc)
            return
        if self.stream_factory is not None:
            self._load(options)
            return
        job = self.ctx.runner.start("Checking the microphone", _check_job, quiet=True)
        job.event.connect(lambda ev: isinstance(ev, Done) and self._load(options))

    def _load(self, options) -> None:
        panel = self.panel
        if panel.current is not None:
            return
        item = QueueItem("Live", status="Loading model", options=options)
        item.segments = []
        self.item = item
        panel.items.append(item)
        row = panel.queue.add(item)
        panel.queue.selectRow(row)
        panel.current = panel.loading_for = item
        engine, model_id, device = options.model_key
        panel.session.ensure(model_id, lambda t: self._start(item, t),
                             label=f"{model_id} for live mode", device=device,
                             options=(engine, device))
        if not panel.session.busy:
            panel.loading_for = None

    def _start(self, item: QueueItem, transcriber) -> None:
        from core.transcribe.live import live

        panel = self.panel
        if item.finished or item not in panel.items:
            self._reset()
            return
        stop = CancelToken()
        self.stop = stop
        folder = self.ctx.home.root / "recordings"
        device, factory, options = self.device.currentData(), self.stream_factory, item.options
        self.job = job = self.ctx.runner.start(
            "Live transcription", lambda c: live(transcriber, options, stop, c, folder,
                                                 device=device, stream_factory=factory))
        item.job = job
        item.status = "Live"
        # methods, not lambdas: Qt drops the connections if the page goes first
        job.event.connect(self._on_event)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.finished.connect(self._on_finished)
        self.button.setText(STOP)
        self.level.show()
        panel._show_row(item)
        if panel.shown is item:
            panel._show_transcript(item)  # "Live" in the title, not "Loading model"

    def _on_failed(self, exc: BaseException) -> None:
        self.panel._on_failed(self.item, exc)

    def _on_cancelled(self) -> None:
        self.panel._on_cancelled(self.item)

    def _on_event(self, ev: Event) -> None:
        from core.transcribe import Level, Segment
        from core.transcribe.live import Tentative

        panel, item = self.panel, self.item
        if item is None:
            return
        shown = panel.shown is item
        if isinstance(ev, Level):
            self.level.setValue(min(100, int(ev.peak * 100)))
            m, s = divmod(int(ev.elapsed), 60)
            self.label.setText(f"{m}:{s:02d}")
            item.duration = ev.elapsed
            if item in panel.items:
                panel.queue.show_item(panel.items.index(item), item)
        elif isinstance(ev, Segment):
            item.segments.append(ev)
            if shown:
                panel.viewer.append(len(item.segments) - 1, ev)
        elif isinstance(ev, Tentative) and shown:
            panel.viewer.set_tentative(ev.start, ev.end, ev.text)
        elif isinstance(ev, Done):
            item.path = ev.result.recording.path
            item.transcript = ev.result.transcript
            item.duration = item.transcript.duration
            item.status = "Done"
            panel.kept.save(item)  # kept as JSON like every finished row
            if item in panel.items:
                cell = panel.queue.item(panel.items.index(item), 0)
                cell.setText(Path(item.path).name)
                cell.setToolTip(item.path)
            panel._show_row(item)
            if shown:
                panel._show_transcript(item)

    def _on_finished(self) -> None:
        item = self.item
        self._reset()
        if self.panel.shown is item:
            self.panel.viewer.set_tentative(None)
        self.panel._on_finished(item)

    def _reset(self) -> None:
        self.job = self.stop = self.item = None
        self.button.setText(LIVE)
        self.button.setEnabled(True)
        self.level.hide()
        self.label.setText("")
