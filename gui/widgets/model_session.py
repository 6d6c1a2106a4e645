"""The loaded model of one page: ``ModelSession`` loads it in a job and closes it when replaced.

    session = ModelSession(ctx, opener, *, notify=True, parent=None)
        opener(model_id: str, device: str, cancel: CancelToken[, options=...]) -> Iterator[Event]
        is a core generator that yields Progress and ends with Done(result=model), e.g.
        ``lambda m, d, c: open_classifier(ctx.registry, m, d, c)``. The device is the user's
        preference (ctx.settings "device/preference") unless ``device=`` is given to ensure().
    session.ensure(model_id, then=None, *, label=None, device=None, options=None)
        The model ``model_id`` (with the same ``options``) is loaded already: ``then(model)`` runs
        at once. Otherwise the model in memory is released (one model at a time) and
        ``model_id`` loads in a job (``label`` names it in the status bar); ``then(model)`` runs
        on the GUI thread once it has loaded. ``options`` (hashable, e.g. a frozen dataclass of
        engine settings such as Transcribe's engine and compute type) is passed to the opener as
        ``options=`` when not None, and a change of options loads again. One load at a time: a
        newer ensure() supersedes a pending one (the older job is cancelled; a model it still
        delivers is closed; only the newest ``then`` runs).
    session.release()   close the model (its close(), if any) on the GUI thread; cancel a load
    session.cancel()    cancel a load in progress (the loaded model stays)
    session.shutdown()  on quit: cancel, and never start another load
    session.model       the loaded model or None;  session.model_id  its id or None
    session.options     the options it was loaded with
    session.busy        a load is in progress;     session.loading_id  the id being loaded
    Signals (GUI thread): loading(str model_id), progress(object Progress),
        loaded(object model), failed(object exception; also shown in the notification bar unless
        notify=False), cancelled(), released(), and idle() after every load job has ended.

The session never runs the model's work: the page does (it knows when a job uses the model, and
keeps the model from changing meanwhile). ``ModelBox`` (gui/widgets/model_box.py) is the picker
that shows a session's state; a page with a picker but no loaded model (Fine-tune's base model)
uses a ModelBox alone.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.cancel import CancelToken
from core.events import Done, Event, Progress

Opener = Callable[[str, str, CancelToken], Iterator[Event]]
Then = Callable[[Any], None]


def close_model(model: Any) -> None:
    close = getattr(model, "close", None)
    if callable(close):
        close()


class ModelSession(QObject):
    loading = Signal(str)
    progress = Signal(object)
    loaded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    released = Signal()
    idle = Signal()

    def __init__(self, ctx, opener: Opener, *, notify: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.opener = opener
        self.notify = notify
        self.model: Any = None
        self.model_id: str | None = None
        self.options: Any = None
        self.loading_id: str | None = None
        self._job = None
        self._then: Then | None = None
        self._loading_options: Any = None
        self._next: tuple | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        return self._job is not None

    def ensure(self, model_id: str, then: Then | None = None, *, label: str | None = None,
               device: str | None = None, options: Any = None) -> None:
        if self._closed:
            return
        if self._job is None and self.model is not None and self.model_id == model_id \
                and self.options == options:
            if then is not None:
                then(self.model)
            return
        if self._job is not None:
            if self.loading_id == model_id and self._loading_options == options \
                    and self._next is None:
                self._then = then  # the same model is on its way: only the newest waits for it
                return
            self._next = (model_id, then, label, device, options)  # starts when the older load has ended
            self._job.cancel()
            return
        self._start(model_id, then, label, device, options)

    def _start(self, model_id: str, then: Then | None, label: str | None,
               device: str | None, options: Any) -> None:
        self.release()
        device = device or self.ctx.settings.get("device/preference", "auto") or "auto"
        opener = self.opener
        extra = {} if options is None else {"options": options}
        self.loading_id, self._loading_options, self._then = model_id, options, then
        job = self.ctx.runner.start(f"Loading {label or model_id}",
                                    lambda cancel: opener(model_id, device, cancel, **extra))
        self._job = job
        job.event.connect(lambda ev: self._on_event(job, ev))
        job.failed.connect(self._on_failed)  # handled here, so not shown twice
        job.cancelled.connect(self.cancelled)
        job.finished.connect(lambda: self._on_finished(job))
        self.loading.emit(model_id)

    def _on_event(self, job, ev: Event) -> None:
        if isinstance(ev, Progress):
            if job is self._job and self._next is None:
                self.progress.emit(ev)
        elif isinstance(ev, Done):
            if job is not self._job or self._next is not None or self._closed:
                close_model(ev.result)  # superseded: nobody wants it any more
                return
            self.model, self.model_id = ev.result, self.loading_id
            self.options = self._loading_options

    def _on_failed(self, exc: BaseException) -> None:
        if self._next is not None:
            return  # superseded: the newer load reports for itself
        self._then = None
        self.failed.emit(exc)
        if self.notify:
            self.ctx.notify.show_error(exc)

    def _on_finished(self, job) -> None:
        if job is not self._job:
            return
        self._job = None
        then, self._then = self._then, None
        loaded = self.model is not None and self.model_id == self.loading_id
        self.loading_id = None
        if self._next is not None and not self._closed:
            nxt, self._next = self._next, None
            self._start(*nxt)
            return
        if loaded:
            self.loaded.emit(self.model)
            if then is not None:
                then(self.model)
        self.idle.emit()

    def cancel(self) -> None:
        self._next = None
        if self._job is not None:
            self._job.cancel()

    def release(self) -> None:
        self.cancel()
        if self.model is None:
            return
        model, self.model, self.model_id, self.options = self.model, None, None, None
        close_model(model)
        self.released.emit()

    def shutdown(self) -> None:
        self._closed = True
        self.cancel()
