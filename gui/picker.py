"""What every page that picks a model shares: the model list, and loading the pick in a worker once.

A panel mixes in ``ModelPicker`` and has ``model_box`` (QComboBox), ``load_progress``
(QProgressBar), ``model_status`` (QLabel), ``ctx``, ``loader(model_id, device, cancel)`` and
``_closed``. It says what a loaded model looks like in ``describe_model`` and may react in
``model_loaded``, ``load_failed`` and ``release_model``.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt

from core.events import Done, Event, Progress
from core.models.registry import ModelEntry, Task
from gui.progress import show_progress

TASK_ROLE = Qt.UserRole + 1  # each item of the model box also holds its task


class ModelPicker:
    default_model_id = ""
    default_model_name = ""
    picker_tasks: tuple[Task, ...] = ()
    settings_key = ""  # e.g. "chat/model"

    def init_picker(self) -> None:
        self.model = None  # the loaded model (engine, classifier, ...)
        self.model_id: str | None = None
        self.load_job = None
        self.loading_id: str | None = None
        self._after_load: Callable[[], None] | None = None

    # ---- the list ----------------------------------------------------------------------------
    def set_models(self, entries: list[ModelEntry]) -> None:
        box = self.model_box
        current = box.currentData() or self.ctx.settings.get(self.settings_key,
                                                             self.default_model_id)
        usable = [e for e in entries if e.task in self.picker_tasks]
        box.blockSignals(True)
        box.clear()
        if not usable:
            box.addItem(self.default_model_name, self.default_model_id)
            box.setItemData(0, self.picker_tasks[0].value, TASK_ROLE)
        for e in usable:
            box.addItem(e.name + self.entry_suffix(e), e.id)
            box.setItemData(box.count() - 1, e.task.value, TASK_ROLE)
        box.setCurrentIndex(max(0, box.findData(current)))
        box.blockSignals(False)
        self.models_listed()

    def entry_suffix(self, e: ModelEntry) -> str:
        return "  (download)" if not e.load_path and e.source.value == "hub" else ""

    def models_listed(self) -> None:
        """After the list is refilled."""

    def select_model(self, model_id: str) -> None:
        """Pick a model by registry id (e.g. a run the Fine-tune page just finished)."""
        box = self.model_box
        idx = box.findData(model_id)
        if idx < 0:
            try:
                entry = self.ctx.registry.get(model_id)
            except Exception as exc:
                self.ctx.notify.show_error(exc)
                return
            box.addItem(entry.name, entry.id)
            idx = box.count() - 1
            box.setItemData(idx, entry.task.value, TASK_ROLE)
        box.setCurrentIndex(idx)

    # ---- loading -----------------------------------------------------------------------------
    def ensure_model(self, then: Callable[[], None]) -> None:
        """Load the picked model in a worker (if not loaded yet), then call ``then``."""
        model_id = self.model_box.currentData() or self.default_model_id
        if self.model is not None and self.model_id == model_id:
            then()
            return
        self._after_load = then
        if self.load_job is not None:
            return
        device = self.ctx.settings.get("device/preference", "auto") or "auto"
        if self.model is not None:
            self.release_model()  # one model in memory at a time
        self.model = None
        loader = self.loader
        self.load_job = self.ctx.runner.start(
            f"Loading {self.model_box.currentText().strip()}",
            lambda c: loader(model_id, device, c))
        self.loading_id = model_id
        self.load_progress.setRange(0, 0)
        self.load_progress.show()
        self.model_status.setText("Loading…")
        self.load_job.event.connect(self._on_load_event)
        self.load_job.failed.connect(self._on_load_failed)
        self.load_job.cancelled.connect(lambda: self.model_status.setText("Loading cancelled."))
        self.load_job.finished.connect(self._on_load_finished)
        self._update_buttons()

    def _on_load_event(self, ev: Event) -> None:
        if isinstance(ev, Progress):
            show_progress(self.load_progress, ev, ev.stage)
            self.model_status.setText(ev.stage + "…")
        elif isinstance(ev, Done):
            self.model, self.model_id = ev.result, self.loading_id
            self.model_status.setText(self.describe_model(self.model))
            self.model_loaded()

    def _on_load_failed(self, exc: BaseException) -> None:
        self.model_status.setText("The model could not be loaded.")
        self._after_load = None
        self.ctx.notify.show_error(exc)
        self.load_failed(exc)

    def _on_load_finished(self) -> None:
        if self._closed:
            return
        self.load_job = None
        self.load_progress.hide()
        then, self._after_load = self._after_load, None
        if self.model is not None and then is not None:
            then()
        self._update_buttons()

    def describe_model(self, model) -> str:
        raise NotImplementedError

    def model_loaded(self) -> None:
        """After a model has loaded (before what waited for it runs)."""

    def load_failed(self, exc: BaseException) -> None:
        """After a load failed (the error is already shown)."""

    def release_model(self) -> None:
        """Before another model loads."""
        close = getattr(self.model, "close", None)
        if close is not None:
            close()
