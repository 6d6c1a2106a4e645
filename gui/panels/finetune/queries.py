"""Reads that must not block the GUI thread (a data preview, the run listing, a data check), run as
quiet jobs where only the newest one counts.

Each start bumps a generation number; a job's result, failure and end are reported only while its
generation is the newest, so a slow old job can neither overwrite a newer result nor clear the
newer job's handle."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from core.events import Done, Event
from gui.jobs import Job, JobRunner


class LatestQuery(QObject):
    """One kind of read, newest wins. Signals arrive on the GUI thread, for the newest job only."""

    result = Signal(object)  # what ``work`` returned
    failed = Signal(object)  # the exception it raised
    ended = Signal()  # the newest job ended (after result / failed); ``job`` is None again

    def __init__(self, runner: JobRunner, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._name = name
        self.generation = 0
        self.job: Job | None = None  # the newest job while it runs

    def start(self, work: Callable[[], object]) -> Job:
        """Run ``work()`` in a job; an older job still running is cancelled and ignored."""
        self.drop()
        generation = self.generation

        def factory(cancel):
            yield Done(result=work())

        job = self._runner.start(self._name, factory, quiet=True)
        _Ticket(self, generation, job)
        self.job = job
        return job

    def drop(self) -> None:
        """Forget the running job, if any: it is cancelled and nothing it does is reported."""
        self.generation += 1
        if self.job is not None:
            self.job.cancel()
            self.job = None

    def is_running(self) -> bool:
        return self.job is not None

    def _deliver(self, generation: int, signal: Signal, *args) -> None:
        if generation == self.generation:
            signal.emit(*args)

    def _end(self, generation: int) -> None:
        if generation == self.generation:
            self.job = None
            self.ended.emit()


class _Ticket(QObject):
    """Ties one job to the generation it was started in. A child of its query, so once the page
    is gone, nothing the job still sends arrives anywhere."""

    def __init__(self, query: LatestQuery, generation: int, job: Job) -> None:
        super().__init__(query)
        self._query = query
        self._generation = generation
        job.event.connect(self._on_event)
        job.failed.connect(self._on_failed)
        job.finished.connect(self._on_finished)

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, Done):
            self._query._deliver(self._generation, self._query.result, ev.result)

    def _on_failed(self, exc: BaseException) -> None:
        self._query._deliver(self._generation, self._query.failed, exc)

    def _on_finished(self) -> None:
        self._query._end(self._generation)
        self.deleteLater()
