"""ModelBox: a page's model picker (combo + load progress) with a status line under it.

    box = ModelBox(ctx, tasks=(Task.TEXT_CLASSIFICATION,), default_id=..., default_name=...,
                   settings_key="classify/model", suffix=None, parent=None)
        Fills itself from ``ctx.models.changed`` with the entries whose task is in ``tasks``
        (the default entry alone until the first scan); remembers the pick under settings_key.
        ``suffix(entry) -> str`` adds to an entry's name (default: "  (download)" for Hub models).
    box.bind(session, describe)   show a ModelSession's loading / progress / loaded / failed
        (``describe(model) -> str`` is the status line of a loaded model)
    box.current_id() -> str       box.current_task() -> str | None (a Task value)
    box.current_name() -> str     box.select(model_id)  (an id not listed yet is added by id)
    box.set_entries(entries)      box.set_note(text)    box.entries (the filtered list)
    Signals: picked(str model_id) when the user picks another entry; listed() after a refill.
    Parts a page may lay out itself: box.combo (QComboBox), box.progress (QProgressBar),
    box.status (QLabel: not in the box's own row; the page puts it where it wants).
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QWidget

from core.models.registry import ModelEntry, Task
from gui.progress import show_progress
from gui.widgets.model_session import ModelSession

TASK_ROLE = Qt.UserRole + 1  # each item also holds its task
FIRST_LOAD = "(a model's first load takes longest: it stays loaded for the next ones)"


def hub_suffix(e: ModelEntry) -> str:
    return "  (download)" if not e.load_path and e.source.value == "hub" else ""


class ModelBox(QWidget):
    picked = Signal(str)
    listed = Signal()

    def __init__(self, ctx, *, tasks: tuple[Task, ...], default_id: str, default_name: str,
                 settings_key: str, suffix: Callable[[ModelEntry], str] | None = None,
                 hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tasks = tasks
        self.default_id, self.default_name = default_id, default_name
        self.settings_key = settings_key
        self.suffix = suffix or hub_suffix
        self.entries: list[ModelEntry] = []
        self.session: ModelSession | None = None
        self._describe: Callable[[object], str] = str
        self.combo = QComboBox()
        self.combo.setMinimumWidth(260)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(120)  # the percentage only: the stage is in the status line
        self.progress.hide()
        self.status = QLabel(hint)
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)  # a long loaded line wraps instead of being cut off
        self.status.setMinimumWidth(1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Model"))
        lay.addWidget(self.combo)
        lay.addWidget(self.progress)
        self.combo.currentIndexChanged.connect(self._on_index)
        ctx.models.changed.connect(self.set_entries)
        self.set_entries(ctx.models.entries)

    # ---- the list --------------------------------------------------------------------------
    def set_entries(self, entries: list[ModelEntry]) -> None:
        combo = self.combo
        current = combo.currentData() or self.ctx.settings.get(self.settings_key, self.default_id)
        self.entries = [e for e in entries if e.task in self.tasks]
        combo.blockSignals(True)
        combo.clear()
        if not self.entries:
            combo.addItem(self.default_name, self.default_id)
            combo.setItemData(0, self.tasks[0].value, TASK_ROLE)
        for e in self.entries:
            combo.addItem(e.name + self.suffix(e), e.id)
            combo.setItemData(combo.count() - 1, e.task.value, TASK_ROLE)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        combo.blockSignals(False)
        self.listed.emit()

    def current_id(self) -> str:
        return self.combo.currentData() or self.default_id

    def current_task(self) -> str | None:
        return self.combo.currentData(TASK_ROLE)

    def current_name(self) -> str:
        return self.combo.currentText().strip()

    def select(self, model_id: str, task: Task | None = None) -> None:
        """Pick ``model_id``; one the list has not got yet (a run just finished) is added by id
        and gets its name with the next scan."""
        idx = self.combo.findData(model_id)
        if idx < 0:
            self.combo.addItem(model_id, model_id)
            idx = self.combo.count() - 1
            self.combo.setItemData(idx, (task or self.tasks[0]).value, TASK_ROLE)
            self.ctx.models.refresh()
        self.combo.setCurrentIndex(idx)

    def _on_index(self) -> None:
        self.ctx.settings.set(self.settings_key, self.current_id())
        self.picked.emit(self.current_id())

    def set_note(self, text: str) -> None:
        self.status.setText(text)

    # ---- a session's state -----------------------------------------------------------------
    def bind(self, session: ModelSession, describe: Callable[[object], str]) -> None:
        self.session, self._describe = session, describe
        session.loading.connect(self._on_loading)
        session.progress.connect(self._on_progress)
        session.loaded.connect(lambda model: self.status.setText(self._describe(model)))
        session.failed.connect(lambda _exc: self.status.setText("The model could not be loaded."))
        session.cancelled.connect(lambda: self.status.setText("Loading cancelled."))
        session.idle.connect(self.progress.hide)

    def _on_loading(self, _model_id: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat("")
        self.progress.show()
        self.status.setText(f"Loading…  {FIRST_LOAD}")

    def _on_progress(self, ev) -> None:
        show_progress(self.progress, ev, "%p%" if ev.fraction is not None else "")
        self.status.setText(f"{ev.stage}{' · ' + ev.message if ev.message else ''}…  "
                            f"{FIRST_LOAD}")
