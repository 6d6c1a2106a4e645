"""The New-run dialog: the run form, a live preview of the data, and OK only when the data and the
settings are valid."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog, QLabel, QVBoxLayout, QWidget

from core.errors import WorkbenchError
from core.events import Done, Event
from core.models.registry import ModelEntry
from gui.context import AppContext
from gui.jobs import Job
from gui.panels.finetune.form import FILE_FILTERS, RunForm


def preview_counts(p) -> str:
    """One line under the preview: examples, tokens, labels, encoding."""
    parts = [f"{p.n_examples:,} {'rows' if p.kind == 'classification' else 'examples'}"]
    if p.n_tokens is not None:
        parts.append(f"{p.n_tokens:,} tokens")
    if p.label_counts:
        parts.append("labels: " + ", ".join(f"{k} {v:,}" for k, v in p.label_counts.items()))
    parts.append(f"encoding {p.encoding}")
    return " · ".join(parts)


class NewRunDialog(QDialog):
    """Every setting of a run on one page; OK only when the data and settings are valid."""

    def __init__(self, ctx: AppContext, entries: list[ModelEntry], parent: QWidget | None = None,
                 initial: dict | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New fine-tuning run")
        self.ctx = ctx
        self.preview_job: Job | None = None
        self.config = None
        self.form = RunForm(entries)
        self.error = QLabel()
        self.error.setObjectName("formError")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Start training")
        lay = QVBoxLayout(self)
        lay.addWidget(self.form)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)

        self.form.add_files_button.clicked.connect(self._pick_files)
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        if initial:
            self.form.set_values(initial)
        self.form.data_changed.connect(self.refresh_preview)
        self.refresh_preview()

    def set_models(self, entries: list[ModelEntry]) -> None:
        """The model list changed while the dialog is open (a download, a finished run)."""
        self.form.set_models(entries)

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
    def refresh_preview(self) -> None:
        form = self.form
        if not form.data_files():
            form.preview.clear()
            form.counts.setText("Add a file to see a preview.")
            return
        from core.finetune import FinetuneConfig, preview_data

        try:
            config = FinetuneConfig.from_dict({**self.config_dict(), "output": "preview"})
        except (WorkbenchError, TypeError, ValueError) as exc:
            self.show_error(exc)
            return
        if self.preview_job is not None:
            self.preview_job.cancel()
        form.counts.setText("Reading…")

        registry = self.ctx.registry

        def job(cancel):
            from core.finetune import base_tokenizer

            # the base model's own tokenizer when it is on disk: exact token and chunk counts
            yield Done(result=preview_data(config, tokenizer=base_tokenizer(config, registry)))

        self.preview_job = self.ctx.runner.start("Previewing data", job, quiet=True)
        self.preview_job.event.connect(self._on_preview)
        self.preview_job.failed.connect(self._on_preview_failed)
        self.preview_job.finished.connect(self._on_preview_finished)

    def _on_preview(self, ev: Event) -> None:
        if not isinstance(ev, Done):
            return
        p = ev.result
        self.form.preview.setPlainText("\n\n──────────\n\n".join(p.samples))
        self.form.counts.setText(preview_counts(p))
        if p.columns:
            self.form.set_columns(p.columns)
        self.error.hide()

    def _on_preview_failed(self, exc: BaseException) -> None:
        self.form.preview.clear()
        self.form.counts.setText("")
        self.show_error(exc)

    def _on_preview_finished(self) -> None:
        self.preview_job = None

    def show_error(self, exc: BaseException | str) -> None:
        from core.errors import describe

        self.error.setText(exc if isinstance(exc, str) else describe(exc)[1])
        self.error.show()

    def try_accept(self) -> bool:
        """Validate everything (settings and data); stay open with the reason when invalid."""
        from core.finetune import FinetuneConfig, preview_data

        try:
            config = FinetuneConfig.from_dict(self.config_dict()).validate()
            preview_data(config)
        except (WorkbenchError, TypeError, ValueError) as exc:
            self.show_error(exc)
            return False
        self.config = config
        self.accept()
        return True
