"""The Fine-tune page: the toolbar, the run history, and the live view of a run (progress, ETA,
loss curve, metrics); merging, resuming, trying and exporting a finished run (as a training
script, or as a GGUF file that chats on llama.cpp)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.events import Done, Event, Progress
from core.models import GGUF_OUT_TYPES, ModelEntry
from gui.context import AppContext
from gui.jobs import Job
from gui.panels.finetune.dialog import NewRunDialog
from gui.panels.finetune.plot import LossPlot
from gui.panels.finetune.runs import (
    RunList,
    is_language_run,
    model_id,
    outcome_text,
    warnings_text,
)
from gui.progress import show_progress


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class FinetunePanel(QWidget):
    """The page: New run, the run history, the live view of the running or selected run."""

    run_finished = Signal(object)  # RunResult, or None when it failed

    def __init__(self, ctx: AppContext, trainer: Callable | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.trainer = trainer  # tests inject a fake; default: core.finetune.train
        self.entries: list[ModelEntry] = []
        self.dialog: NewRunDialog | None = None  # the open New-run dialog, if any
        self.job: Job | None = None  # the training run
        self.merge_job: Job | None = None
        self.gguf_job: Job | None = None
        self.current_config = None
        self.last_result = None
        self._try_handler: Callable[[str, str], None] | None = None

        title = QLabel("Fine-tune")
        title.setObjectName("pageTitle")
        subtitle = QLabel("Train on your own files with LoRA or full fine-tuning, watch the loss, "
                          "and use the result at once in Chat or Classify.")
        subtitle.setObjectName("subtitle")
        subtitle.setWordWrap(True)
        self.new_button = QPushButton("New run…")
        self.resume_button = QPushButton("Resume")
        self.script_button = QPushButton("Export as script…")
        self.merge_button = QPushButton("Merge LoRA")
        self.try_button = QPushButton("Try it")
        self.gguf_button = QPushButton("Export GGUF…")
        self.gguf_button.setToolTip("Write the run's model as a GGUF file (LoRA merged in) that "
                                    "chats on llama.cpp, and list it on the Models page")
        self.cancel_button = QPushButton("Cancel run")
        bar = QHBoxLayout()
        for b in (self.new_button, self.resume_button, self.script_button, self.merge_button,
                  self.gguf_button, self.try_button):
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.cancel_button)

        self.history = RunList(ctx)
        self.run_title = QLabel("No run yet: start one with New run…")
        self.run_title.setObjectName("viewerTitle")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("–")
        self.stats = QLabel("")
        self.stats.setObjectName("hint")
        self.gguf_progress = QProgressBar()  # the GGUF export, shown while it runs
        self.gguf_progress.hide()
        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.plot = LossPlot()
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(8, 0, 0, 0)
        rl.addWidget(self.run_title)
        rl.addWidget(self.progress)
        rl.addWidget(self.stats)
        rl.addWidget(self.gguf_progress)
        rl.addWidget(self.plot, 1)
        rl.addWidget(self.metrics)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Runs"))
        ll.addWidget(self.history, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([260, 740])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 12)
        lay.addWidget(title)
        lay.addWidget(subtitle)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

        self.new_button.clicked.connect(self.open_dialog)
        self.resume_button.clicked.connect(self.resume_selected)
        self.script_button.clicked.connect(self._export_script_dialog)
        self.merge_button.clicked.connect(self.merge_selected)
        self.try_button.clicked.connect(self.try_selected)
        self.gguf_button.clicked.connect(self._export_gguf_dialog)
        self.cancel_button.clicked.connect(self.cancel)
        self.history.currentItemChanged.connect(self._on_history_selected)
        self.history.loaded.connect(self._update_buttons)
        self.refresh_history()
        self._update_buttons()

    # ---- models ----------------------------------------------------------------------------
    def set_models(self, entries: list[ModelEntry]) -> None:
        self.entries = list(entries)
        if self.dialog is not None:
            self.dialog.set_models(self.entries)

    def connect_try(self, handler: Callable[[str, str], None]) -> None:
        """``handler(page, model_id)`` opens a trained model in Chat or Classify."""
        self._try_handler = handler

    # ---- history -----------------------------------------------------------------------------
    def refresh_history(self) -> Job:
        """Read the runs on disk again, in a job."""
        return self.history.refresh()

    def selected_run(self):
        return self.history.selected_run()

    def _on_history_selected(self, item) -> None:
        self._update_buttons()
        if item is None or self.job is not None:
            return
        run = item.data(Qt.UserRole)
        self.run_title.setText(f"{run.name} · {run.status} · "
                               f"{run.config.get('task', '')} · base {run.config.get('base', '')}")
        self.plot.clear()
        for p in run.losses or []:
            self.plot.add(p.get("split", "train"), p["step"], p["loss"])
        self.metrics.setText(outcome_text(run))
        self.progress.setValue(1000 if run.status == "done" else 0)
        self.progress.setFormat(run.status)
        self.stats.setText("")

    def _update_buttons(self) -> None:
        run = self.selected_run()
        busy = self.job is not None
        self.cancel_button.setEnabled(busy)
        self.new_button.setEnabled(not busy)
        self.resume_button.setEnabled(not busy and run is not None
                                      and run.status in ("cancelled", "failed"))
        done = run is not None and run.status == "done"
        self.try_button.setEnabled(done)
        self.merge_button.setEnabled(not busy and self.merge_job is None and done
                                     and run.config.get("method") == "lora"
                                     and not run.config.get("merge_lora"))
        self.script_button.setEnabled(run is not None)
        self.gguf_button.setEnabled(self.gguf_job is None and is_language_run(run))

    # ---- running -----------------------------------------------------------------------------
    def open_dialog(self) -> NewRunDialog:
        dlg = NewRunDialog(self.ctx, self.entries, self)
        self.dialog = dlg
        dlg.accepted.connect(lambda: self.start(dlg.config))
        dlg.finished.connect(lambda _r: setattr(self, "dialog", None))
        dlg.open()
        return dlg

    def start(self, config, resume: bool = False) -> Job | None:
        if self.job is not None:
            self.ctx.notify.show_info("A run is already going; cancel it or wait.")
            return None
        trainer = self.trainer
        if trainer is None:
            from core.finetune import train_in_child as trainer  # a child process
        home = self.ctx.home
        registry = self.ctx.registry
        self.current_config = config
        self.plot.clear()
        self.metrics.setText("")
        self.run_title.setText(f"{config.output} · {'resuming' if resume else 'starting'} · "
                               f"{config.task} · base {config.base} · {config.method}")
        self.progress.setValue(0)
        self.progress.setFormat("Preparing…")
        self.job = self.ctx.runner.start(
            f"Training {config.output}",
            lambda c: trainer(config, c, home=home, registry=registry, resume=resume))
        self.job.event.connect(self._on_event)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.job.finished.connect(self._on_finished)
        self._update_buttons()
        return self.job

    def _on_event(self, ev: Event) -> None:
        from core.events import Progress
        from core.finetune import LossPoint, TrainProgress

        if isinstance(ev, TrainProgress):
            frac = ev.step / ev.max_steps if ev.max_steps else 0
            self.progress.setValue(int(frac * 1000))
            self.progress.setFormat(f"step {ev.step}/{ev.max_steps} · epoch {ev.epoch:.2f} · "
                                    f"ETA {fmt_eta(ev.eta_s)}")
            rate = f"{ev.samples_per_s:.1f} samples/s" if ev.samples_per_s else ""
            self.stats.setText(f"elapsed {fmt_eta(ev.elapsed_s)}  {rate}".strip())
        elif isinstance(ev, LossPoint):
            self.plot.add(ev.split, ev.step, ev.loss)
            if ev.learning_rate is not None:
                self.stats.setText(self.stats.text().split("  lr")[0]
                                   + f"  lr {ev.learning_rate:.2e}")
        elif isinstance(ev, Progress):
            self.progress.setFormat(ev.stage)
        elif isinstance(ev, Done):
            self.last_result = ev.result
            r = ev.result
            self.metrics.setText(outcome_text(
                r, "" if not r.stopped else "  (stopped: the last checkpoint is kept, Resume "
                                            "continues)"))
            if not r.stopped:
                self.progress.setValue(1000)
                self.progress.setFormat("Done")
                warnings = warnings_text(r)
                self.ctx.notify.show_info(f"'{r.name}' is ready: it is in the model list now."
                                          + (f" {warnings}" if warnings else ""))
            else:
                self.progress.setFormat("Stopped")

    def _on_failed(self, exc: BaseException) -> None:
        self.progress.setFormat("Failed")
        self.ctx.notify.show_error(exc)

    def _on_cancelled(self) -> None:
        self.progress.setFormat("Cancelled")

    def _on_finished(self) -> None:
        self.job = None
        result, self.last_result = self.last_result, None
        self.refresh_history()
        self._update_buttons()
        if result is not None and not result.stopped:
            self.ctx.models_changed()
        self.run_finished.emit(result)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.progress.setFormat("Stopping after this step…")

    def resume_selected(self) -> None:
        from core.finetune import FinetuneConfig

        run = self.selected_run()
        if run is not None:
            self.start(FinetuneConfig.from_dict(run.config), resume=True)

    def merge_selected(self) -> Job | None:
        """Merge the selected LoRA run into full weights, in a job; the new model is listed."""
        run = self.selected_run()
        if run is None or self.merge_job is not None:
            return None
        # the run's published model folder (the run folder holds only run.json and checkpoints)
        home, path = self.ctx.home, run.model_path or run.config.get("output") or run.name

        def job(cancel):
            from core.finetune import merge_adapter

            yield Done(result=merge_adapter(path, home=home))

        self.merge_job = self.ctx.runner.start(f"Merging {run.name}", job)
        self.merge_job.event.connect(self._on_merged)
        self.merge_job.failed.connect(self.ctx.notify.show_error)
        self.merge_job.finished.connect(self._on_merge_finished)
        self._update_buttons()
        return self.merge_job

    def _on_merged(self, ev: Event) -> None:
        if isinstance(ev, Done):
            self.ctx.notify.show_info(f"Merged into {ev.result}")
            self.ctx.models_changed()

    def _on_merge_finished(self) -> None:
        self.merge_job = None
        self.refresh_history()
        self._update_buttons()

    def try_selected(self) -> None:
        run = self.selected_run()
        if run is None or self._try_handler is None:
            return
        page = "classify" if run.config.get("task") == "classification" else "chat"
        self._try_handler(page, model_id(run))

    def _export_script_dialog(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the training script")
        if folder:
            self.export_script(run, folder)

    def export_script(self, run, folder: str) -> Job:
        """Write the run's training script into ``folder``, in a job (it looks the base up)."""
        home, settings = self.ctx.home, dict(run.config)

        def job(cancel):
            from core.finetune import FinetuneConfig, export_script

            yield Done(result=export_script(FinetuneConfig.from_dict(settings), folder, home=home))

        j = self.ctx.runner.start(f"Exporting {run.name}", job, quiet=True)
        j.event.connect(self._on_exported)
        j.failed.connect(self.ctx.notify.show_error)
        return j

    def _on_exported(self, ev: Event) -> None:
        if isinstance(ev, Done):
            paths = [Path(p) for p in ev.result]
            self.ctx.notify.show_info("Wrote " + ", ".join(p.name for p in paths)
                                      + f" to {paths[0].parent}")

    def _export_gguf_dialog(self) -> None:
        run = self.selected_run()
        if not is_language_run(run):
            return
        out_type, ok = QInputDialog.getItem(
            self, "Export GGUF", f"Write '{run.name}' as a GGUF file of type\n(f16: the weights "
            "as they are; q8_0: 8-bit, about half the size)", list(GGUF_OUT_TYPES), 0, False)
        if ok:
            self.export_gguf(run, out_type)

    def export_gguf(self, run, out_type: str) -> Job | None:
        """Export the run's model to GGUF in a job, with progress; the new model is listed."""
        if self.gguf_job is not None or not is_language_run(run):
            return None
        registry, source = self.ctx.registry, model_id(run)

        def job(cancel):
            from core.models import export_gguf

            yield from export_gguf(registry, source, out_type, None, cancel)

        self.gguf_job = self.ctx.runner.start(f"Exporting {run.name} to GGUF", job)
        self.gguf_progress.setRange(0, 0)
        self.gguf_progress.setFormat(f"Exporting {run.name} to GGUF {out_type}…")
        self.gguf_progress.show()
        self.gguf_job.event.connect(self._on_gguf_event)
        self.gguf_job.failed.connect(self.ctx.notify.show_error)
        self.gguf_job.finished.connect(self._on_gguf_finished)
        self._update_buttons()
        return self.gguf_job

    def _on_gguf_event(self, ev: Event) -> None:
        if isinstance(ev, Progress):
            show_progress(self.gguf_progress, ev)
        elif isinstance(ev, Done):
            self.ctx.notify.show_info(f"{ev.summary} It is in the model list (Chat runs it on "
                                      "llama.cpp).")
            self.ctx.models_changed()

    def _on_gguf_finished(self) -> None:
        self.gguf_job = None
        self.gguf_progress.hide()
        self._update_buttons()
