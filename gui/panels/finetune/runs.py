"""The list of runs: the run being trained first, with its live status, then the runs on disk
(newest first), each with its status and headline metric. The runs on disk are read in a job,
never on the GUI thread; what the list shows comes from the page's state (state.PageState)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from gui.context import AppContext
from gui.jobs import Job
from gui.panels.finetune.queries import LatestQuery


def _metric(run) -> str:
    m = run.metrics or {}
    if "perplexity" in m:
        base = m.get("base_perplexity")
        return f" · ppl {base:.2f} → {m['perplexity']:.2f}" if isinstance(base, (int, float)) \
            else f" · ppl {m['perplexity']:.2f}"
    if "accuracy" in m:
        base = m.get("base_accuracy")
        return f" · acc {base:.2f} → {m['accuracy']:.2f}" if isinstance(base, (int, float)) \
            else f" · acc {m['accuracy']:.3f}"
    return ""


def run_label(run, phase: str | None = None, detail: str = "") -> str:
    """Two lines: the name, then the phase and the headline metric (or the live detail)."""
    phase = phase or run.status
    if detail:
        return f"{run.name}\n{phase} · {detail}"
    return f"{run.name}\n{phase}{_metric(run) if phase == 'done' else ''}"


def is_language_run(run) -> bool:
    """A finished run that made a language model (causal-lm or chat): it can go to GGUF."""
    return (run is not None and run.status == "done"
            and run.config.get("task") in ("causal-lm", "chat"))


def model_id(run) -> str:
    """The registry id of the model a run published."""
    return f"app:{Path(run.model_path or run.path).name}"


class RunList(QListWidget):
    """The rows the page's state gives; ``loaded`` with the runs on disk after each read, and
    ``picked`` with a row's key when the user selects it."""

    loaded = Signal(object)  # the RunInfo on disk (a list), newest first
    picked = Signal(object)  # a row key (state.LIVE or a run name), or None

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self._query = LatestQuery(ctx.runner, "Listing runs", self)
        self._query.result.connect(self.loaded)
        self._query.failed.connect(self._on_failed)
        self.currentItemChanged.connect(
            lambda item, _old: self.picked.emit(item.data(Qt.UserRole + 1) if item else None))

    def refresh(self) -> Job:
        """Read the runs again in a job; ``loaded`` says what is on disk."""
        home = self.ctx.home

        def read():
            from core.finetune import list_runs

            return list_runs(home)

        return self._query.start(read)

    def _on_failed(self, exc: BaseException) -> None:
        self.ctx.notify.show_error(exc)
        self.loaded.emit([])

    def show_rows(self, rows: list, selected, details: dict | None = None) -> None:
        """Fill the list with ``rows`` (state.Row), ``selected`` (a key) selected; ``details``:
        a live status line per key (e.g. "step 5/20")."""
        details = details or {}
        self.blockSignals(True)
        same = [self.item(i).data(Qt.UserRole + 1) for i in range(self.count())] == \
            [row.key for row in rows]  # the same rows: update them in place (no flicker)
        if not same:
            self.clear()
        for i, row in enumerate(rows):
            item = self.item(i) if same else QListWidgetItem()
            item.setText(run_label(row.run, row.phase, details.get(row.key, "")))
            item.setData(Qt.UserRole, row.run)
            item.setData(Qt.UserRole + 1, row.key)
            font = QFont(item.font())
            font.setBold(row.live)
            item.setFont(font)
            if not same:
                self.addItem(item)
        current = next((self.item(i) for i in range(self.count())
                        if self.item(i).data(Qt.UserRole + 1) == selected), None)
        if current is not self.currentItem():
            self.setCurrentItem(current)
        self.blockSignals(False)

    def selected_run(self):
        item = self.currentItem()
        return item.data(Qt.UserRole) if item else None
