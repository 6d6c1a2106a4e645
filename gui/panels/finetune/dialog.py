"""The New-run dialog: the run form, a live preview of the data, and OK only when the data and the
settings are valid. Reading the data (preview and check) runs in jobs, never on the GUI thread.
The settings of the last run started are remembered per task (the app's settings file): the dialog
opens with the last task and its file and settings, and switching task brings that task's back."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog, QLabel, QVBoxLayout, QWidget

from core.errors import WorkbenchError
from core.models.registry import ModelEntry
from gui.context import AppContext
from gui.jobs import Job
from gui.panels.finetune.form import FILE_FILTERS, RunForm
from gui.panels.finetune.queries import LatestQuery

if TYPE_CHECKING:
    from core.finetune import DataPreview, FinetuneConfig

LAST_TASK = "finetune/last_task"
LAST_SETTINGS = "finetune/last/"  # + task: the settings of the last run of that task, as JSON
# (config, registry or None) -> DataPreview; called in a job, so it must not touch widgets
Previewer = Callable[["FinetuneConfig", object], "DataPreview"]


def read_preview(config: FinetuneConfig, registry=None) -> DataPreview:
    """Read and check the data of ``config``. With a registry, the base model's own tokenizer when
    it is on disk (exact token and chunk counts); without one, estimated counts."""
    from core.finetune import base_tokenizer, preview_data

    tokenizer = base_tokenizer(config, registry) if registry is not None else None
    return preview_data(config, tokenizer=tokenizer)


def preview_counts(p) -> str:
    """One line under the preview: examples, tokens, labels, encoding."""
    parts = [f"{p.n_examples:,} {p.unit}"]
    if p.n_tokens is not None:
        parts.append(f"{p.n_tokens:,} tokens")
    if p.label_counts:
        parts.append("labels: " + ", ".join(f"{k} {v:,}" for k, v in p.label_counts.items()))
    parts.append(f"encoding {p.encoding}")
    return " · ".join(parts)


class NewRunDialog(QDialog):
    """Every setting of a run on one page; OK only when the data and settings are valid."""

    checked = Signal(bool)  # a press of OK was answered: True accepted, False stays open

    def __init__(self, ctx: AppContext, entries: list[ModelEntry], parent: QWidget | None = None,
                 initial: dict | None = None, previewer: Previewer | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New fine-tuning run")
        self.ctx = ctx
        self.previewer = previewer or read_preview
        self.config = None
        self._pending = None  # the config whose data is being checked after OK
        self._previews = LatestQuery(ctx.runner, "Previewing data", self)
        self._check = LatestQuery(ctx.runner, "Checking data", self)
        self.form = RunForm(entries)
        self.error = QLabel()
        self.error.setObjectName("formError")
        self.error.setWordWrap(True)
        self.error.hide()
        self.note = QLabel()  # what a prefilled start could not take (gui.links.TrainingData)
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        self.note.hide()
        # a prefilled start: which settings came from the last run of the task (they may be odd
        # ones, a two-step test run, say)
        self.carried = QLabel()
        self.carried.setObjectName("hint")
        self.carried.setWordWrap(True)
        self.carried.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.Ok)
        self.ok_button.setText("Start training")
        lay = QVBoxLayout(self)
        lay.addWidget(self.form)
        lay.addWidget(self.note)
        lay.addWidget(self.carried)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)

        self.form.add_files_button.clicked.connect(self._pick_files)
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        self._previews.result.connect(self._on_preview)
        self._previews.failed.connect(self._on_preview_failed)
        self._check.result.connect(self._on_checked)
        self._check.failed.connect(self._on_check_failed)
        self._check.ended.connect(lambda: self.ok_button.setEnabled(True))
        self._restoring = self._ready = False
        self._wanted_base = ""  # a prefilled base the model list did not offer (yet)
        if initial:
            self.form.set_values(initial)
        else:
            last_task = self.ctx.settings.get(LAST_TASK, "") or ""
            self._restore(last_task or self.form.task.currentData())
        self.form.task.currentIndexChanged.connect(
            lambda _i: self._restore(self.form.task.currentData()))
        self.form.data_changed.connect(self.refresh_preview)
        self.form.base.activated.connect(self._base_chosen)  # the user's pick wins
        self._ready = True
        self.refresh_preview()

    # ---- remembered settings -----------------------------------------------------------------
    def remembered(self, task: str) -> dict:
        """The settings of the last run of ``task`` started from this dialog ({} if none)."""
        try:
            d = json.loads(self.ctx.settings.get(LAST_SETTINGS + task, "") or "{}")
        except (TypeError, ValueError):
            return {}
        return d if isinstance(d, dict) else {}

    def _restore(self, task: str) -> None:
        if self._restoring or not task:
            return
        self._restoring = True
        try:
            self.form.set_values({**self.remembered(task), "task": task})
        finally:
            self._restoring = False
        if self._ready:
            self.refresh_preview()

    def _remember(self, config: FinetuneConfig) -> None:
        d = config.to_dict()
        for key in ("output", "device"):  # a new name each run; the device is an app setting
            d.pop(key, None)
        self.ctx.settings.set(LAST_SETTINGS + config.task, json.dumps(d))
        self.ctx.settings.set(LAST_TASK, config.task)

    def prefill(self, task: str, path: str, base: str = "") -> str:
        """Start from another page's data (gui.links.TrainingData): ``task`` with the settings
        remembered for it, then the file and ``base`` over them (the file alone; a table's
        columns picked afresh from it). A base the list does not offer leaves the default;
        the sentence that says so is returned ("" when the base is set)."""
        form = self.form
        ready, self._ready = self._ready, False
        form.blockSignals(True)  # one preview, of the new file, once it is in
        try:
            self._restore(task)  # the task's remembered settings...
            form.files.clear()  # ...but this file alone, named after it
            form.output.clear()
            for combo in (form.text_column, form.label_column):
                combo.clear()
        finally:
            form.blockSignals(False)
            self._ready = ready
        self._wanted_base = base  # a model list still being read may bring it (set_models)
        form.add_files([str(path)])  # refreshes the preview
        # named after the file, without the time stamp an export put in its name
        stem = re.sub(r"-\d{8}-\d{6}(-\d+)?$", "", Path(path).stem) or "run"
        form.output.setText(f"{stem}-{time.strftime('%m%d-%H%M')}")
        last = self.remembered(task)
        if last:
            epochs = last.get("epochs", 1)
            length = (f"max steps {last['max_steps']}" if last.get("max_steps")
                      else f"{epochs} epoch{'' if epochs == 1 else 's'}")
            self.carried.setText(f"The other settings are those of your last {task} run "
                                 f"({last.get('method', 'lora')}, {length}, learning rate "
                                 f"{last.get('learning_rate', 'default')}): check them before "
                                 f"you start.")
        self.carried.setVisible(bool(last))
        note = self._pick_wanted_base()
        self.resize(self.size().expandedTo(self.sizeHint()))  # the notes shown need room too
        return note

    def _base_chosen(self, _index: int) -> None:
        self._wanted_base = ""
        self.note.hide()

    def _pick_wanted_base(self) -> str:
        base, form, note = self._wanted_base, self.form, ""
        if base and form.base.findData(base) >= 0:
            form.set_values({"base": base})
            self._wanted_base = ""
        elif base:
            note = (f"'{base}' cannot be the base of this task here; "
                    f"{form.base.currentText().split('  ·  ')[0]} is picked instead.")
        self.note.setText(note)
        self.note.setVisible(bool(note))
        return note

    @property
    def preview_job(self) -> Job | None:
        """The newest preview job while it runs."""
        return self._previews.job

    def set_models(self, entries: list[ModelEntry]) -> None:
        """The model list changed while the dialog is open (a download, a finished run)."""
        self.form.set_models(entries)
        if self._wanted_base:  # a prefilled base that was not listed yet
            self._pick_wanted_base()

    def add_files(self, paths: list[str]) -> None:
        self.form.add_files(paths)

    def _pick_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Training data", self.ctx.settings.get("finetune/last_dir", ""),
            FILE_FILTERS[self.form.task.currentData()])
        if paths:
            self.ctx.settings.set("finetune/last_dir", str(Path(paths[0]).parent))
            self.add_files(paths)

    def config_dict(self) -> dict:
        return self.form.config_dict(self.ctx.settings.get("device/preference", "auto") or "auto")

    # ---- preview -----------------------------------------------------------------------------
    def refresh_preview(self) -> Job | None:
        """Read the data again in a job; an older preview still running is ignored."""
        form = self.form
        if not form.data_files():
            self._previews.drop()
            form.preview.clear()
            form.counts.setText("Add a file to see a preview.")
            return None
        from core.finetune import FinetuneConfig

        try:
            config = FinetuneConfig.from_dict({**self.config_dict(), "output": "preview"})
        except (WorkbenchError, TypeError, ValueError) as exc:
            self._previews.drop()
            self.show_error(exc)
            return None
        form.counts.setText("Reading…")
        previewer, registry = self.previewer, self.ctx.registry
        return self._previews.start(lambda: previewer(config, registry))

    def _on_preview(self, p: DataPreview) -> None:
        self.form.preview.setPlainText("\n\n──────────\n\n".join(p.samples))
        self.form.counts.setText(preview_counts(p))
        if p.columns:
            self.form.set_columns(p.columns)
        self.error.hide()

    def _on_preview_failed(self, exc: BaseException) -> None:
        self.form.preview.clear()
        self.form.counts.setText("")
        self.show_error(exc)

    def show_error(self, exc: BaseException | str) -> None:
        from core.errors import describe

        self.error.setText(exc if isinstance(exc, str) else describe(exc)[1])
        self.error.show()

    # ---- OK ----------------------------------------------------------------------------------
    def try_accept(self) -> bool:
        """Check the settings now and the data in a job; the dialog accepts once both are valid
        and otherwise stays open with the reason. False when the settings are invalid already
        (no job started); ``checked`` answers either way."""
        from core.finetune import FinetuneConfig

        try:
            config = FinetuneConfig.from_dict(self.config_dict()).validate()
        except (WorkbenchError, TypeError, ValueError) as exc:
            self.show_error(exc)
            self.checked.emit(False)
            return False
        self._pending = config
        self.ok_button.setEnabled(False)
        previewer = self.previewer
        self._check.start(lambda: previewer(config, None))
        return True

    def _on_checked(self, _preview: DataPreview) -> None:
        self.config, self._pending = self._pending, None
        self._remember(self.config)
        self.accept()
        self.checked.emit(True)

    def _on_check_failed(self, exc: BaseException) -> None:
        self._pending = None
        self.show_error(exc)
        self.checked.emit(False)

    def done(self, result: int) -> None:
        """Closing (OK, Cancel, Escape) forgets the reads still running."""
        self._previews.drop()
        self._check.drop()
        super().done(result)
