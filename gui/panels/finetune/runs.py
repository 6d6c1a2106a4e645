"""The list of runs on disk (newest first), each with its status and headline metric; it is read
in a job, never on the GUI thread."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from gui.context import AppContext
from gui.jobs import Job
from gui.panels.finetune.queries import LatestQuery


def run_label(run) -> str:
    """Two lines: the name, then the status and perplexity or accuracy."""
    metric = ""
    m = run.metrics or {}
    if "perplexity" in m:
        metric = f" · ppl {m['perplexity']:.2f}"
    elif "accuracy" in m:
        metric = f" · acc {m['accuracy']:.3f}"
    return f"{run.name}\n{run.status}{metric}"


def metrics_text(m: dict | None) -> str:
    if not m:
        return ""
    return " · ".join(f"{k.replace('_', ' ')} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in m.items())


def warnings_text(run) -> str:
    """A run's or a result's warnings (e.g. the training loss did not go down), one line each."""
    warnings = getattr(run, "warnings", None) or ()  # runs recorded before warnings existed
    return "\n".join(f"⚠ {w}" for w in warnings)


def outcome_text(run, note: str = "") -> str:
    """The metrics line (with a note after it), then the warnings."""
    return "\n".join(t for t in (metrics_text(run.metrics) + note, warnings_text(run)) if t)


def is_language_run(run) -> bool:
    """A finished run that made a language model (causal-lm or chat): it can go to GGUF."""
    return (run is not None and run.status == "done"
            and run.config.get("task") in ("causal-lm", "chat"))


def model_id(run) -> str:
    """The registry id of the model a run published."""
    return f"app:{Path(run.model_path or run.path).name}"


class RunList(QListWidget):
    """Every run under the app home; ``loaded`` after each refresh has filled the list."""

    loaded = Signal(list)  # the RunInfo shown, newest first

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self._query = LatestQuery(ctx.runner, "Listing runs", self)
        self._query.result.connect(self.show_runs)
        self._query.failed.connect(self._on_failed)

    def refresh(self) -> Job:
        """Read the runs again in a job; the list changes when they arrive (``loaded``)."""
        home = self.ctx.home

        def read():
            from core.finetune import list_runs

            return list_runs(home)

        return self._query.start(read)

    def _on_failed(self, exc: BaseException) -> None:
        self.ctx.notify.show_error(exc)
        self.show_runs([])

    def show_runs(self, runs: list) -> None:
        """Fill the list, keeping the selected run selected."""
        keep = self.selected_run().name if self.selected_run() else None
        self.blockSignals(True)
        self.clear()
        for run in runs:
            item = QListWidgetItem(run_label(run))
            item.setData(Qt.UserRole, run)
            self.addItem(item)
            if run.name == keep:
                self.setCurrentItem(item)
        self.blockSignals(False)
        self.loaded.emit(list(runs))

    def selected_run(self):
        item = self.currentItem()
        return item.data(Qt.UserRole) if item else None
