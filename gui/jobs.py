"""The one worker bridge: runs a core generator in a QThread and relays its events as signals.

A job is started from the GUI thread with a factory ``f(cancel_token) -> Iterator[Event]``. The
generator runs in its own QThread; every event crosses back through a queued signal, so widgets are
only ever touched on the GUI thread. Progress events are coalesced to at most ~30 per second.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.cancel import CancelToken
from core.errors import Cancelled

if TYPE_CHECKING:
    from core.events import Event

log = logging.getLogger("workbench.jobs")

JobFactory = Callable[[CancelToken], "Iterator[Event]"]


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
            for ev in self._factory(self._cancel):
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
            if self._cancel.cancelled and not finished:  # it stopped early because it was asked to
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
                 quiet: bool = False, parent: QObject | None = None) -> None:
        # Qt's namespace costs ~30 ms to import; jobs start after the first paint
        from PySide6.QtCore import Qt

        super().__init__(parent)
        self.name = name
        self.quiet = quiet  # housekeeping (device probe, model scan): not shown as "Running"
        self.cancel_token = CancelToken()
        self.error: BaseException | None = None
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

    def wait(self, timeout_ms: int) -> bool:
        return self._thread.wait(timeout_ms)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        self.error = exc
        if isinstance(exc, Cancelled):
            self.cancelled.emit()
        else:
            log.error("job '%s' failed", self.name, exc_info=(type(exc), exc, exc.__traceback__))
            self.failed.emit(exc)

    @Slot()
    def _on_thread_finished(self) -> None:
        self.finished.emit()


class JobRunner(QObject):
    """Starts jobs and knows which are running; cancels and waits for all of them on quit."""

    jobs_changed = Signal(list)  # names of the running jobs the user should see

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []

    def start(self, name: str, factory: JobFactory, **kwargs) -> Job:
        job = Job(name, factory, parent=self, **kwargs)
        self._jobs.append(job)
        job.finished.connect(lambda j=job: self._on_finished(j))
        job.start()
        self.jobs_changed.emit(self.running())
        return job

    def running(self, *, include_quiet: bool = False) -> list[str]:
        return [j.name for j in self._jobs if include_quiet or not j.quiet]

    def active_jobs(self) -> list[Job]:
        return list(self._jobs)

    def cancel_all(self) -> None:
        for job in self._jobs:
            job.cancel()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel every job and wait for its thread. True when all stopped in time."""
        self.cancel_all()
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for job in list(self._jobs):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            if not job.wait(left):
                log.warning("job '%s' did not stop within %d ms", job.name, timeout_ms)
                ok = False
        return ok

    def _on_finished(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        job.deleteLater()
        self.jobs_changed.emit(self.running())
