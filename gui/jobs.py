"""The one operations layer: core generators, queries and mutations run in QThreads.

``JobRunner.start(name, factory)`` runs a generator ``factory(cancel) -> Iterator[Event]`` in its own
QThread under ``contextlib.closing`` (closed when it ends, fails or is cancelled, on its thread).
Every event crosses back through a queued signal, so widgets are only touched on the GUI thread;
coalescable events (Progress) arrive at most ~30 times a second.

A failure goes to the runner's notifier (the notification bar) unless the caller connects its own
handler to ``Job.failed`` or passes ``notify=False``. Cancelled is never shown.

Short background work (registry scans, table reads, adding a model) is an *operation*, as in
Anki's QueryOp: ``query(name, fn, on_result, on_failure=None)`` runs ``fn(cancel) -> value`` in a
worker and calls ``on_result(value)`` on the GUI thread; ``mutation`` is the same for work that
changes something (shown as running in the status bar). Operations receive data, never widgets; a
callback whose widget is gone by then is skipped.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing, nullcontext
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import SIGNAL, QObject, QThread, Signal, Slot

from core.cancel import CancelToken
from core.errors import Cancelled

if TYPE_CHECKING:
    from core.events import Event

log = logging.getLogger("workbench.jobs")

JobFactory = Callable[[CancelToken], "Iterator[Event]"]
Failure = Callable[[BaseException], None]


def _alive(callback: Callable) -> bool:
    """False when ``callback`` is a method of a Qt object that has been deleted meanwhile."""
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, QObject):
        import shiboken6

        return shiboken6.isValid(owner)
    return True


def _after(first: Callable[[], None], factory: JobFactory) -> JobFactory:
    def run(cancel: CancelToken):
        first()
        return factory(cancel)

    return run


class _GeneratorRunner(QObject):
    event = Signal(object)
    failed = Signal(object)
    done = Signal()

    def __init__(self, factory: JobFactory, cancel: CancelToken, min_interval: float) -> None:
        super().__init__()
        self._factory = factory
        self._cancel = cancel
        self._min_interval = min_interval

    @Slot()
    def run(self) -> None:
        from core.events import Done

        pending = None
        last = 0.0
        finished = False  # a Done arrived: a stop that still delivers its result is no failure
        try:
            events = self._factory(self._cancel)
            with closing(events) if hasattr(events, "close") else nullcontext():
                for ev in events:
                    finished = finished or isinstance(ev, Done)
                    if getattr(ev, "coalescable", False):
                        now = time.monotonic()
                        if now - last < self._min_interval:
                            pending = ev
                            continue
                        last, pending = now, None
                    elif pending is not None:
                        self.event.emit(pending)
                        pending = None
                    self.event.emit(ev)
                    if self._cancel.cancelled and not finished:
                        raise Cancelled()
                if pending is not None:
                    self.event.emit(pending)
                if self._cancel.cancelled and not finished:  # it stopped early, as asked
                    raise Cancelled()
        except BaseException as exc:  # handed to the GUI thread, never lost
            self.failed.emit(exc)
        finally:
            self.done.emit()


class Job(QObject):
    """One running generator. Signals arrive on the GUI thread, in the order they were yielded."""

    event = Signal(object)
    failed = Signal(object)  # any exception but Cancelled
    cancelled = Signal()
    finished = Signal()  # always last, after event/failed/cancelled

    def __init__(self, name: str, factory: JobFactory, *, min_interval: float = 1 / 30,
                 quiet: bool = False, notify: Failure | None = None,
                 parent: QObject | None = None) -> None:
        # Qt's namespace costs ~30 ms to import; jobs start after the first paint
        from PySide6.QtCore import Qt

        super().__init__(parent)
        self.name = name
        self.quiet = quiet  # housekeeping (device probe, model scan): not shown as "Running"
        self.cancel_token = CancelToken()
        self.error: BaseException | None = None
        self._notify = notify
        self._thread = QThread()
        self._thread.setObjectName(f"job: {name}")
        self._runner = _GeneratorRunner(factory, self.cancel_token, min_interval)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.event.connect(self.event)
        self._runner.failed.connect(self._on_failed)
        # direct: quit must reach the thread even while the GUI thread blocks in wait()
        self._runner.done.connect(self._thread.quit, Qt.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, timeout_ms: int | None = None) -> bool:
        return self._thread.wait() if timeout_ms is None else self._thread.wait(timeout_ms)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        self.error = exc
        if isinstance(exc, Cancelled):
            self.cancelled.emit()
            return
        log.error("job '%s' failed", self.name, exc_info=(type(exc), exc, exc.__traceback__))
        handled = self.receivers(SIGNAL("failed(PyObject)")) > 0
        self.failed.emit(exc)
        if not handled and self._notify is not None:
            self._notify(exc)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread.wait()  # "finished" comes just before the thread ends: let it end
        self.finished.emit()


def _operation(fn: Callable[[CancelToken], Any]) -> JobFactory:
    def run(cancel: CancelToken):
        from core.events import Done

        cancel.raise_if_cancelled()
        value = fn(cancel)
        cancel.raise_if_cancelled()
        yield Done(result=value)

    return run


class JobRunner(QObject):
    """Starts jobs and operations, knows which are running, cancels them all on quit."""

    jobs_changed = Signal(list)  # names of the running jobs the user should see
    idle = Signal()  # the last running job (quiet ones included) has stopped

    def __init__(self, parent: QObject | None = None, *, notify: Failure | None = None) -> None:
        super().__init__(parent)
        self.notify = notify  # where failures nobody handles go (the notification bar)
        self._jobs: list[Job] = []
        # called on each job's thread before its work: the window waits there for an import it
        # started while idle (two threads importing one library can break it, transformers' lazy
        # modules raise ImportError), so a job never imports alongside it
        self.before_work: Callable[[], None] | None = None

    def start(self, name: str, factory: JobFactory, *, quiet: bool = False,
              min_interval: float = 1 / 30, notify: bool = True) -> Job:
        """Run ``factory(cancel)`` (a generator of events) in a new thread."""
        if self.before_work is not None:
            factory = _after(self.before_work, factory)
        job = Job(name, factory, min_interval=min_interval, quiet=quiet,
                  notify=self._notify_failure if notify else None, parent=self)
        self._jobs.append(job)
        job.finished.connect(lambda j=job: self._on_finished(j))
        job.start()
        self.jobs_changed.emit(self.running())
        return job

    def query(self, name: str, fn: Callable[[CancelToken], Any], on_result: Callable[[Any], None],
              on_failure: Failure | None = None, *, quiet: bool = True) -> Job:
        """Read something off the GUI thread: ``fn(cancel)`` runs in a worker, ``on_result(value)``
        and ``on_failure(exc)`` on the GUI thread. No failure handler: the notification shows it."""
        job = self.start(name, _operation(fn), quiet=quiet)

        def deliver(ev) -> None:
            if _alive(on_result):
                on_result(ev.result)

        job.event.connect(deliver)
        if on_failure is not None:
            job.failed.connect(lambda exc: on_failure(exc) if _alive(on_failure) else None)
        return job

    def mutation(self, name: str, fn: Callable[[CancelToken], Any],
                 on_result: Callable[[Any], None] | None = None,
                 on_failure: Failure | None = None) -> Job:
        """Change something off the GUI thread (shown as running); as ``query`` otherwise."""
        return self.query(name, fn, on_result or (lambda _value: None), on_failure, quiet=False)

    def running(self, *, include_quiet: bool = False) -> list[str]:
        return [j.name for j in self._jobs if include_quiet or not j.quiet]

    def active_jobs(self) -> list[Job]:
        return list(self._jobs)

    def cancel_all(self) -> None:
        for job in self._jobs:
            job.cancel()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel every job and wait (blocking) for its thread. True when all stopped in time."""
        self.cancel_all()
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for job in list(self._jobs):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            if not job.wait(left):
                log.warning("job '%s' did not stop within %d ms", job.name, timeout_ms)
                ok = False
        return ok

    def _notify_failure(self, exc: BaseException) -> None:
        if self.notify is not None:
            self.notify(exc)

    def _on_finished(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        job.deleteLater()
        self.jobs_changed.emit(self.running())
        if not self._jobs:
            self.idle.emit()
