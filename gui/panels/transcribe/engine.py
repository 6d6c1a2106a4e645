"""The page's loaded model: one Transcriber, loaded in a job and held, swapped and closed on the
GUI thread only (file jobs receive it; they never set it).

``ModelSlot`` has the shape of the shared ``ModelSession`` (gui/widgets/model_session.py on the
main line): ``ensure(model_id, then, label=, device=, options=)`` runs ``then(model)`` at once
when that model (with the same options) is loaded, otherwise releases the one in memory and loads
it in a job whose Done hands the model back; ``release()``, ``cancel()``, ``shutdown()``; the
signals progress, loaded, failed, cancelled, released and idle (after every load job).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from core.events import Done, Progress

if TYPE_CHECKING:
    from core.cancel import CancelToken
    from core.events import Event
    from core.transcribe import TranscribeOptions, Transcriber

Then = Callable[[Any], None]


def transcriber_opener(registry, opener=None) -> Callable[..., Iterator[Event]]:
    """``opener(model_id, device, cancel, options=(engine, device))`` over open_transcriber:
    the options that pick another model besides its id (the device is among them, so that a
    change of device preference loads again)."""

    def run(model_id: str, device: str, cancel: CancelToken, options: tuple[str, str]
            ) -> Iterator[Event]:
        from core.transcribe import open_transcriber

        engine, _device = options
        yield from (opener or open_transcriber)(registry, model_id, device, cancel, engine)

    return run


def file_job(transcriber: Transcriber, path: str, options: TranscribeOptions
             ) -> Callable[[CancelToken], Iterator[Event]]:
    return lambda cancel: transcriber.transcribe(path, options, cancel)


def _close(model: Any) -> None:
    if model is not None:
        model.close(wait=False)  # a faster-whisper window in flight ends on its own thread


class ModelSlot(QObject):
    progress = Signal(object)
    loaded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    released = Signal()
    idle = Signal()

    def __init__(self, ctx, opener: Callable[..., Iterator[Event]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.opener = opener
        self.model: Any = None
        self.model_id: str | None = None
        self.options: Any = None
        self.loading_id: str | None = None
        self._loading_options: Any = None
        self._job = None
        self._then: Then | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        return self._job is not None

    def ensure(self, model_id: str, then: Then | None = None, *, label: str | None = None,
               device: str = "auto", options: Any = None) -> None:
        if self._closed:
            return
        if self._job is None and self.model is not None and self.model_id == model_id \
                and self.options == options:
            if then is not None:
                then(self.model)
            return
        self.cancel()
        self.release()
        self.loading_id, self._loading_options, self._then = model_id, options, then
        opener = self.opener
        job = self.ctx.runner.start(f"Loading {label or model_id}",
                                    lambda cancel: opener(model_id, device, cancel,
                                                          options=options))
        self._job = job
        job.event.connect(lambda ev: self._on_event(job, ev))
        # handled by the page (so not shown twice); a superseded job says nothing
        job.failed.connect(lambda exc: job is self._job and self.failed.emit(exc))
        job.cancelled.connect(lambda: job is self._job and self.cancelled.emit())
        job.finished.connect(lambda: self._on_finished(job))

    def _on_event(self, job, ev: Event) -> None:
        if isinstance(ev, Progress):
            if job is self._job:
                self.progress.emit(ev)
        elif isinstance(ev, Done):
            if job is not self._job or self._closed:
                _close(ev.result)  # superseded or too late: nobody wants it any more
                return
            self.model, self.model_id = ev.result, self.loading_id
            self.options = self._loading_options

    def _on_finished(self, job) -> None:
        if job is not self._job:
            return
        self._job = None
        then, self._then = self._then, None
        loaded = self.model is not None and self.model_id == self.loading_id
        self.loading_id = None
        if loaded:
            self.loaded.emit(self.model)
            if then is not None:
                then(self.model)
        self.idle.emit()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def release(self) -> None:
        if self.model is None:
            return
        model, self.model, self.model_id, self.options = self.model, None, None, None
        _close(model)
        self.released.emit()

    def shutdown(self) -> None:
        self._closed = True
        self.cancel()
        self.release()
