"""Compare with base, on the Fine-tune page: the button, the job (core.finetune.compare_with_base:
the selected finished run's model against its base on the run's own eval split) and its dialog
(compare_dialog.CompareDialog: progress and Cancel, then the result)."""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QPushButton

from core.events import Done, Event, Progress
from gui.jobs import Job
from gui.panels.finetune.compare_dialog import CompareDialog


def can_compare(run) -> bool:
    """A finished run with a model that held out data to measure on."""
    return (run is not None and run.status == "done" and bool(run.model_path)
            and bool((run.config or {}).get("eval_split")))


class BaseCompare(QObject):
    """The page's "Compare with base". ``comparer(name, cancel, home=..., registry=...,
    device=...)`` is core.finetune.compare_with_base unless a test gives another."""

    def __init__(self, page, comparer=None) -> None:
        super().__init__(page)
        self.page = page
        self.ctx = page.ctx
        self.comparer = comparer
        self.job: Job | None = None
        self.dialog: CompareDialog | None = None
        self.button = QPushButton("Compare with base")
        self.button.setToolTip("Measure the run's model and the model it started from on the "
                               "data the run held out, side by side")
        self.button.clicked.connect(lambda: self.start())
        self.button.setEnabled(False)

    def sync(self, run) -> None:
        """Enable the button for a run it can compare (the page calls this as it renders)."""
        self.button.setEnabled(self.job is None and can_compare(run))
        if not can_compare(run) and run is not None and run.status == "done":
            self.button.setToolTip("This run held out no data (eval split 0): nothing to "
                                   "compare on.")

    def start(self, run=None) -> CompareDialog | None:
        """Compare ``run`` (default: the selected one) in a job; the dialog shows it."""
        run = run or self.page.selected_run()
        if run is None or not can_compare(run) or self.job is not None:
            return None
        comparer = self.comparer
        if comparer is None:
            from core.finetune import compare_with_base as comparer
        home, registry = self.ctx.home, self.ctx.registry
        device = self.ctx.settings.get("device/preference", "auto") or "auto"
        dlg = CompareDialog(run.name, self.page)
        self.dialog = dlg
        self.job = self.ctx.runner.start(
            f"Comparing {run.name} with its base",
            lambda c: comparer(run.name, c, home=home, registry=registry, device=device))
        self.job.event.connect(self._on_event)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(dlg.show_cancelled)
        self.job.finished.connect(self._on_finished)
        dlg.cancel_requested.connect(self.job.cancel)
        self.button.setEnabled(False)
        dlg.open()
        return dlg

    def _on_event(self, ev: Event) -> None:
        if self.dialog is None:
            return
        if isinstance(ev, Progress):
            self.dialog.show_progress(ev)
        elif isinstance(ev, Done):
            self.dialog.show_result(ev.result)

    def _on_failed(self, exc: BaseException) -> None:
        from core.errors import describe

        if self.dialog is not None:
            self.dialog.show_failed(describe(exc)[1])
        self.ctx.notify.show_error(exc)

    def _on_finished(self) -> None:
        self.job = None
        if self.dialog is not None and self.dialog.running:  # ended without a result
            self.dialog.show_cancelled()
        self.sync(self.page.selected_run())
