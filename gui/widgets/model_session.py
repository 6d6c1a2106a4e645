"""The loaded model of one page: ``ModelSession`` loads it in a job, through the app's shared
model cache (``ctx.model_cache``, core/models/cache.py), and lets go of it when replaced.

    session = ModelSession(ctx, opener, *, notify=True, parent=None, kind=None)
        opener(model_id: str, device: str, cancel: CancelToken[, options=...]) -> Iterator[Event]
        is a core generator that yields Progress and ends with Done(result=model), e.g.
        ``lambda m, d, c: open_classifier(ctx.registry, m, d, c)``. The device is the user's
        preference (ctx.settings "device/preference") unless ``device=`` is given to ensure().
        ``kind`` names what the opener makes (e.g. "chat"): two sessions of one kind share the
        model of one id, device and options, loaded once. By default the opener's module and
        qualified name (a page's ``default_loader`` makes the same kind on every page).
    session.ensure(model_id, then=None, *, label=None, device=None, options=None)
        The model ``model_id`` (with the same ``options``) is loaded already: ``then(model)`` runs
        at once. Otherwise the model in memory is released (one model at a time) and
        ``model_id`` loads in a job (``label`` names it in the status bar); ``then(model)`` runs
        on the GUI thread once it has loaded. ``options`` (hashable, e.g. a frozen dataclass of
        engine settings such as Transcribe's engine and compute type) is passed to the opener as
        ``options=`` when not None, and a change of options loads again. One load at a time: a
        newer ensure() supersedes a pending one (the older job is cancelled; a model it still
        delivers is closed; only the newest ``then`` runs).
    session.release()   let go of the model (closed, on the GUI thread, unless another page holds
                        it); cancel a load
    session.cancel()    cancel a load in progress (the loaded model stays)
    session.shutdown()  on quit: cancel, and never start another load
    session.model       the loaded model or None;  session.model_id  its id or None
    session.options     the options it was loaded with
    session.busy        a load is in progress;     session.loading_id  the id being loaded
    Signals (GUI thread): loading(str model_id), progress(object Progress),
        loaded(object model), failed(object exception; also shown in the notification bar unless
        notify=False), cancelled(), released(), and idle() after every load job has ended.

The cache may unload the model (over its memory budget, idle for a while, or the user's Unload in
the status bar): the session then forgets it and emits released(); the next ensure() loads it again.
A model busy with a job (its lock held) is never unloaded.

The session never runs the model's work: the page does (it knows when a job uses the model, and
keeps the model from changing meanwhile). ``ModelBox`` (gui/widgets/model_box.py) is the picker
that shows a session's state; a page with a picker but no loaded model (Fine-tune's base model)
uses a ModelBox alone.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
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
                 parent: QObject | None = None, kind: str | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.opener = opener
        self.notify = notify
        self.kind = kind or f"{getattr(opener, '__module__', '')}." \
                            f"{getattr(opener, '__qualname__', type(opener).__qualname__)}"
        self.cache = getattr(ctx, "model_cache", None)
        if self.cache is not None:
            self.cache.on_unload(self, self._on_unloaded)
        self._key: Hashable | None = None
        self._loading_key: Hashable | None = None
        self._loading_label = ""
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
            if self.cache is not None and self._key is not None:
                self.cache.touch(self._key)
            if then is not None:
                then(self.model)
            return
        if self._job is None and self._adopt(model_id, then, device, options):
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

    def _device(self, device: str | None) -> str:
        return device or self.ctx.settings.get("device/preference", "auto") or "auto"

    def _cache_key(self, model_id: str, device: str, options: Any) -> Hashable:
        return (self.kind, model_id, device, options)

    def _adopt(self, model_id: str, then: Then | None, device: str | None,
               options: Any) -> bool:
        """Take the model from the shared cache when another page loaded it already."""
        if self.cache is None:
            return False
        key = self._cache_key(model_id, self._device(device), options)
        if self.cache.take(key, self) is None:
            return False
        self.release()
        model = self.cache.take(key, self)  # again: release() may have unloaded the old one
        if model is None:
            return False
        self.model, self.model_id, self.options, self._key = model, model_id, options, key
        self.loaded.emit(model)
        if then is not None:
            then(model)
        self.idle.emit()
        return True

    def _start(self, model_id: str, then: Then | None, label: str | None,
               device: str | None, options: Any) -> None:
        self.release()
        device = self._device(device)
        opener = self.opener
        extra = {} if options is None else {"options": options}
        self.loading_id, self._loading_options, self._then = model_id, options, then
        self._loading_key = self._cache_key(model_id, device, options)
        self._loading_label = label or model_id
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
            model = ev.result
            if self.cache is not None:
                model = self.cache.put(self._loading_key, model, self, name=self._loading_label)
                self._key = self._loading_key
            self.model, self.model_id = model, self.loading_id
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
        key, self._key = self._key, None
        if self.cache is not None and key is not None:
            self.cache.release(key, self)  # closed unless another page holds it
        else:
            close_model(model)
        del model
        self.released.emit()

    def _on_unloaded(self, key: Hashable, model: Any) -> None:
        """The cache unloaded our model (budget, idle, the user): forget it."""
        if model is not self.model:
            return
        self.model = self.model_id = self.options = self._key = None
        self.released.emit()

    def shutdown(self) -> None:
        self._closed = True
        self.cancel()
