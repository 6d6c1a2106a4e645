"""The Fine-tune page: the toolbar, the run list, and the view of the selected run (header,
progress, loss curve, result in words). One state (state.PageState) drives them all: the job's
events move the live run through its phases, and ``render`` draws the header, the buttons and the
list from it. Merging, exporting and trying a run are in actions.RunActions."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.events import Done, Event, Progress
from core.models import ModelEntry
from gui.context import AppContext
from gui.jobs import Job
from gui.panels.finetune.actions import RunActions
from gui.panels.finetune.compare import BaseCompare
from gui.panels.finetune.dialog import NewRunDialog
from gui.panels.finetune.plot import HINT, LossPlot
from gui.panels.finetune.runs import RunList
from gui.panels.finetune.state import LIVE, PageState, fmt_eta

__all__ = ["FinetunePanel", "fmt_eta"]


class FinetunePanel(QWidget, RunActions):
    """The page: New run, the run list, the view of the running or selected run."""

    run_finished = Signal(object)  # RunResult (stopped or not), or None when it failed

    def __init__(self, ctx: AppContext, trainer: Callable | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.trainer = trainer  # tests inject a fake; default: core.finetune.train
        self.entries: list[ModelEntry] = []
        self.state = PageState()
        self.dialog: NewRunDialog | None = None  # the open New-run dialog, if any
        self.job: Job | None = None  # the training run
        self.merge_job: Job | None = None
        self.gguf_job: Job | None = None
        self.current_config = None
        self.live_losses: list[dict] = []  # the live run's curve (a resumed run's from the start)
        self._plotted: object = ()  # the row key whose curve the plot shows
        self._try_handler: Callable[..., None] | None = None

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
        self.try_button.setToolTip("Open the trained model: a new chat named after the run, or "
                                   "the Classify page")
        self.gguf_button = QPushButton("Export GGUF…")
        self.gguf_button.setToolTip("Write the run's model as a GGUF file (LoRA merged in) that "
                                    "chats on llama.cpp, and list it on the Models page")
        self.cancel_button = QPushButton("Cancel run")
        self.compare = BaseCompare(self)  # Compare with base: its button, job and dialog
        bar = QHBoxLayout()
        for b in (self.new_button, self.resume_button, self.script_button, self.merge_button,
                  self.gguf_button, self.try_button, self.compare.button):
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.cancel_button)

        self.history = RunList(ctx)
        self.run_title = QLabel("Reading the runs…")
        self.run_title.setObjectName("viewerTitle")
        self.run_title.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("–")
        self.stats = QLabel("")
        self.stats.setObjectName("hint")
        self.gguf_progress = QProgressBar()  # the GGUF export, shown while it runs
        self.gguf_progress.hide()
        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.metrics.setObjectName("runResult")
        self.plot = LossPlot()
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(8, 0, 0, 0)
        rl.addWidget(self.run_title)
        rl.addWidget(self.progress)
        rl.addWidget(self.stats)
        rl.addWidget(self.gguf_progress)
        rl.addWidget(self.metrics)
        rl.addWidget(self.plot, 1)
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
        self.history.picked.connect(self._on_picked)
        self.history.loaded.connect(self._on_runs_read)
        self.state.can_try = False
        self.refresh_history()
        self.render()

    # ---- models ----------------------------------------------------------------------------
    def set_models(self, entries: list[ModelEntry]) -> None:
        self.entries = list(entries)
        if self.dialog is not None:
            self.dialog.set_models(self.entries)

    def connect_try(self, handler: Callable[..., None]) -> None:
        """``handler(page, model_id, title)`` opens a trained model in Chat (a new chat called
        ``title``) or Classify."""
        self._try_handler = handler
        self.state.can_try = True
        self.render()

    # ---- the run list ------------------------------------------------------------------------
    def refresh_history(self) -> Job:
        """Read the runs on disk again, in a job."""
        return self.history.refresh()

    def selected_run(self):
        row = self.state.current()
        return row.run if row else None

    def _on_runs_read(self, runs: list) -> None:
        self.state.set_runs(runs)
        self.render()

    def _on_picked(self, key) -> None:
        self.state.select(key)
        self.render()

    # ---- drawing -----------------------------------------------------------------------------
    def render(self) -> None:
        """Draw the header, progress, result, buttons, list and curve from the state."""
        st = self.state
        live = st.live
        details = {}
        if live is not None and live.phase in ("running", "stopping") and live.max_steps:
            details[LIVE] = f"step {live.step}/{live.max_steps}"
        elif live is not None and live.phase == "preparing":
            details[LIVE] = live.stage
        self.history.show_rows(st.rows(), st.selected, details)
        self.run_title.setText(st.header())
        frac, text = st.progress()
        if frac is None:
            self.progress.setRange(0, 0)  # an unknown amount of work: a busy bar
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(frac * 1000))
        self.progress.setFormat(text)
        self.stats.setText(st.stats())
        self.stats.setVisible(bool(self.stats.text()))
        self.metrics.setText(st.outcome())
        self.metrics.setVisible(bool(self.metrics.text()))
        b = st.buttons()
        for name, button in (("new", self.new_button), ("cancel", self.cancel_button),
                             ("resume", self.resume_button), ("script", self.script_button),
                             ("merge", self.merge_button), ("gguf", self.gguf_button),
                             ("try", self.try_button)):
            button.setEnabled(b[name])
        self.compare.sync(self.selected_run())
        self._draw_curve()

    def _draw_curve(self) -> None:
        """The selected run's curve, drawn again only when another run is selected."""
        row = self.state.current()
        key = None if row is None else (row.key, row.run.started if not row.live else "live")
        if key == self._plotted:
            return
        self._plotted = key
        if row is None:
            self.plot.clear()
            self.plot.set_hint(HINT)
        elif row.live:
            self.plot.set_points(self.live_losses)
            self.plot.set_hint(HINT)
        else:
            self.plot.set_points(row.run.losses)
            self.plot.set_hint(HINT if row.phase == "running" else
                               "This run logged no loss before it ended.")

    # ---- running -----------------------------------------------------------------------------
    def open_dialog(self) -> NewRunDialog:
        dlg = NewRunDialog(self.ctx, self.entries, self)
        self.dialog = dlg
        dlg.accepted.connect(lambda: self.start(dlg.config))
        dlg.finished.connect(lambda _r: setattr(self, "dialog", None))
        dlg.open()
        return dlg

    def start_from(self, request) -> NewRunDialog:
        """Train on data another page wrote (gui.links.TrainingData): the New-run dialog opens
        prefilled with its task, file and base (the dialog's default when it has none); OK starts
        the run. A New-run dialog already open is closed first."""
        if self.dialog is not None:
            self.dialog.reject()
        dlg = self.open_dialog()
        dlg.prefill(request.task, str(request.path), request.base)
        return dlg

    def start(self, config, resume: bool = False, earlier: list[dict] | None = None
              ) -> Job | None:
        """Train ``config`` in a job (``resume``: go on from its last checkpoint; ``earlier``:
        the curve it had, drawn before the new points)."""
        if self.job is not None:
            self.ctx.notify.show_info("A run is already going; cancel it or wait.")
            return None
        trainer = self.trainer
        if trainer is None:
            from core.finetune import train_in_child as trainer  # a child process
        home = self.ctx.home
        registry = self.ctx.registry
        self.current_config = config
        self.live_losses = [dict(p) for p in (earlier or [])]
        self.state.start(config.to_dict(), str(home.root / "runs" / config.output), resume)
        self._plotted = ()
        self.job = self.ctx.runner.start(
            f"Training {config.output}",
            lambda c: trainer(config, c, home=home, registry=registry, resume=resume))
        self.job.event.connect(self._on_event)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.job.finished.connect(self._on_finished)
        self.render()
        return self.job

    def _on_event(self, ev: Event) -> None:
        from core.finetune import LossPoint, TrainProgress

        st = self.state
        if isinstance(ev, TrainProgress):
            st.progress_step(ev.step, ev.max_steps, ev.epoch, ev.elapsed_s, ev.eta_s,
                             ev.samples_per_s)
        elif isinstance(ev, LossPoint):
            self.live_losses.append({"step": ev.step, "loss": ev.loss, "split": ev.split,
                                     "learning_rate": ev.learning_rate})
            row = st.current()
            if row is not None and row.live:
                self.plot.add(ev.split, ev.step, ev.loss)
        elif isinstance(ev, Progress):
            st.stage(ev.stage, ev.message)
        elif isinstance(ev, Done):
            st.result(ev.result)
            r = ev.result
            if not r.stopped:
                warnings = "\n".join(getattr(r, "warnings", ()) or ())
                self.ctx.notify.show_info(f"'{r.name}' is ready: it is in the model list now."
                                          + (f" {warnings}" if warnings else ""))
        self.render()

    def _on_failed(self, exc: BaseException) -> None:
        from core.errors import describe

        self.state.failed(describe(exc)[1])
        self.ctx.notify.show_error(exc)
        self.render()

    def _on_cancelled(self) -> None:
        self.state.cancelled()
        self.render()

    def _on_finished(self) -> None:
        self.job = None
        live = self.state.live
        result = live.result if live is not None else None
        self.state.ended()
        self.refresh_history()
        self.render()
        if result is not None and not result.stopped:
            self.ctx.models_changed()
        self.run_finished.emit(result)

    def cancel(self) -> None:
        if self.job is not None and self.state.cancel():
            self.job.cancel()
            self.render()

    def resume_selected(self) -> Job | None:
        from core.finetune import FinetuneConfig

        run = self.selected_run()
        if run is None or not self.state.buttons()["resume"]:
            return None
        return self.start(FinetuneConfig.from_dict(run.config), resume=True,
                          earlier=list(run.losses or []))
