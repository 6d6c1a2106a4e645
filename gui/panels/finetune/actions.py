"""What a run in the list can be used for: merging a LoRA run into full weights, exporting its
training script, exporting its model as a GGUF file, and trying it in Chat or Classify. A mixin of
the Fine-tune page (it uses the page's ctx, state and widgets); every write runs in a job."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog

from core.events import Done, Event, Progress
from core.models import GGUF_OUT_TYPES
from gui.jobs import Job
from gui.panels.finetune.runs import is_language_run, model_id
from gui.progress import show_progress


class RunActions:
    """Merge LoRA, Export as script, Export GGUF, Try it: on the selected run."""

    # ---- merge -------------------------------------------------------------------------------
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
        self.state.merging = True
        self.render()
        return self.merge_job

    def _on_merged(self, ev: Event) -> None:
        if isinstance(ev, Done):
            self.ctx.notify.show_info(f"Merged into {ev.result}")
            self.ctx.models_changed()

    def _on_merge_finished(self) -> None:
        self.merge_job = None
        self.state.merging = False
        self.refresh_history()
        self.render()

    # ---- try ---------------------------------------------------------------------------------
    def try_selected(self) -> None:
        """Open the selected run's model: a new chat titled with the run, or Classify."""
        run = self.selected_run()
        if run is None or self._try_handler is None:
            return
        page = "classify" if run.config.get("task") == "classification" else "chat"
        self._try_handler(page, model_id(run), run.name)

    # ---- export as script --------------------------------------------------------------------
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

    # ---- export GGUF -------------------------------------------------------------------------
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
        self.state.exporting = True
        self.render()
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
        self.state.exporting = False
        self.gguf_progress.hide()
        self.render()
