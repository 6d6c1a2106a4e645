"""The Fine-tune page's state, in plain Python (no Qt): one model that the header, the buttons and
the run list are all drawn from.

``PageState`` holds the runs on disk, the run this session is training (``Live``: its phase,
progress and result) and which run is selected. A run is in one of the phases idle, preparing,
running, stopping, done, failed, cancelled; the live run moves through them with the job's events
(start → preparing → running → stopping → done / failed / cancelled), a run on disk is in the
phase its run.json says. Everything the page shows is derived here (``header``, ``buttons``,
``rows``, ``progress``, ``outcome``), so the parts can never disagree, and a test can drive every
transition without a window."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.finetune import RunInfo, result_text

PHASES = ("idle", "preparing", "running", "stopping", "done", "failed", "cancelled")
BUSY = ("preparing", "running", "stopping")
LIVE = "\0live"  # the key of the live run's row while it is not (yet) the one on disk
NO_RUN = "No run yet: start one with New run…"


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def phase_of(run: RunInfo | None) -> str:
    """The phase a run on disk is in ("running" is a run of another process)."""
    if run is None:
        return "idle"
    return run.status if run.status in PHASES else "failed"


@dataclass
class Live:
    """The run this session started, from the press of Start to its end."""

    config: dict  # FinetuneConfig.to_dict()
    path: str  # its run folder
    resume: bool = False
    phase: str = "preparing"
    stage: str = "Preparing…"
    detail: str = ""  # what the stage works on (the base model's name, the examples…)
    step: int = 0
    max_steps: int = 0
    epoch: float = 0.0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    samples_per_s: float | None = None
    result: object | None = None  # RunResult once Done arrived
    error: str = ""
    started: float = field(default_factory=time.time)
    ended: bool = False  # the job is over (finished signal)

    @property
    def name(self) -> str:
        return self.config.get("output", "")

    def info(self) -> RunInfo:
        """The live run as a RunInfo, like a run on disk, so the buttons act on either alike."""
        r = self.result
        status = self.phase if self.phase in ("done", "failed", "cancelled") else "running"
        return RunInfo(
            name=self.name, status=status, config=dict(self.config),
            metrics=dict(getattr(r, "metrics", None) or {}), losses=[], path=self.path,
            started=self.started, finished=None if self.phase in BUSY else time.time(),
            error=self.error, model_path=(getattr(r, "path", "") or None),
            checkpoint=getattr(r, "checkpoint", None),
            warnings=tuple(getattr(r, "warnings", ()) or ()))


@dataclass
class Row:
    key: str
    run: RunInfo
    phase: str
    live: bool


class PageState:
    """What the Fine-tune page is doing and showing; the panel calls the transitions and draws
    ``header()``, ``buttons()``, ``rows()``, ``progress()`` and ``outcome()``."""

    def __init__(self) -> None:
        self.runs: list[RunInfo] = []  # on disk, newest first
        self.live: Live | None = None
        self.selected: str | None = None  # a row key: a run name, or LIVE
        self.loaded = False  # the runs on disk were read at least once
        self.merging = False
        self.exporting = False
        self.can_try = True  # someone opens a trained model (the window does)

    # ---- transitions of the live run ---------------------------------------------------------
    def start(self, config: dict, path: str, resume: bool = False) -> Live:
        self.live = Live(config=dict(config), path=path, resume=resume)
        self.selected = LIVE
        return self.live

    def stage(self, text: str, detail: str = "") -> None:
        """A Progress stage (finding the base model, loading, measuring the base…)."""
        if self.live and self.live.phase in ("preparing", "running"):
            self.live.stage = text  # while running: what follows the last step (saving…)
            self.live.detail = detail

    def progress_step(self, step: int, max_steps: int, epoch: float, elapsed_s: float,
                      eta_s: float | None, samples_per_s: float | None) -> None:
        live = self.live
        if live is None or live.phase not in BUSY:
            return
        live.step, live.max_steps, live.epoch = step, max_steps, epoch
        live.elapsed_s, live.eta_s, live.samples_per_s = elapsed_s, eta_s, samples_per_s
        if live.phase == "preparing":
            live.phase = "running"
        live.stage = live.detail = ""

    def cancel(self) -> bool:
        """Cancel pressed: True when there was a run to stop."""
        if self.live is None or self.live.phase not in ("preparing", "running"):
            return False
        self.live.phase = "stopping"
        return True

    def result(self, result) -> None:
        """Done arrived: a finished run, or one stopped on request (a checkpoint is kept)."""
        if self.live is not None:
            self.live.result = result
            self.live.phase = "cancelled" if getattr(result, "stopped", False) else "done"

    def failed(self, message: str) -> None:
        if self.live is not None:
            self.live.phase, self.live.error = "failed", message

    def cancelled(self) -> None:
        if self.live is not None and self.live.phase in BUSY:
            self.live.phase = "cancelled"

    def ended(self) -> None:
        """The job is over; a phase still busy means it ended without a word: cancelled."""
        if self.live is not None:
            self.live.ended = True
            if self.live.phase in BUSY:
                self.live.phase = "cancelled"

    # ---- runs on disk ------------------------------------------------------------------------
    def set_runs(self, runs: list[RunInfo]) -> None:
        """The runs on disk were read. A live run that ended and is on disk as it ended gives way
        to its record; with nothing selected, the newest run is (the header follows it)."""
        self.runs = list(runs)
        self.loaded = True
        live = self.live
        if live is not None and live.ended:
            disk = self._disk_record()
            if disk is not None and disk.status == live.phase:
                self.live = None
                if self.selected == LIVE:
                    self.selected = disk.name
        keys = [r.key for r in self.rows()]
        if self.selected not in keys:
            self.selected = keys[0] if keys else None

    def _disk_record(self) -> RunInfo | None:
        """The run on disk that is the live run's own record (not an older run of that name)."""
        live = self.live
        for run in self.runs:
            if run.name == live.name and (live.resume or run.started >= live.started - 2):
                return run
        return None

    def select(self, key: str | None) -> None:
        self.selected = key

    # ---- what is shown -----------------------------------------------------------------------
    def rows(self) -> list[Row]:
        """The live run first (with its phase), then the runs on disk, newest first."""
        out = []
        own = None
        if self.live is not None:
            own = self._disk_record()
            out.append(Row(LIVE, self.live.info(), self.live.phase, True))
        for run in self.runs:
            if own is not None and run is own:
                continue
            out.append(Row(run.name, run, phase_of(run), False))
        return out

    def current(self) -> Row | None:
        return next((r for r in self.rows() if r.key == self.selected), None)

    @property
    def busy(self) -> bool:
        return self.live is not None and self.live.phase in BUSY

    def phase(self) -> str:
        row = self.current()
        return row.phase if row else "idle"

    def header(self) -> str:
        row = self.current()
        if row is None:
            return NO_RUN if self.loaded or self.live is None else "Reading the runs…"
        c = row.run.config
        word = row.phase
        if row.live and self.live.resume and row.phase in ("preparing", "running"):
            word = f"{row.phase} (resumed)"
        elif not row.live and row.phase == "running":
            word = "running in another window or the CLI"
        parts = [row.run.name, word, c.get("task", ""), f"base {c.get('base', '')}",
                 c.get("method", "")]
        return " · ".join(p for p in parts if p and p != "base ")

    def progress(self) -> tuple[float | None, str]:
        """(fraction or None for an unknown amount, text) of the selected run's progress bar."""
        row = self.current()
        if row is None:
            return 0.0, "–"
        if row.live:
            live = self.live
            frac = live.step / live.max_steps if live.max_steps else 0.0
            stage = f"{live.stage}: {live.detail}…" if live.detail else live.stage
            if live.phase == "preparing":
                return None, stage
            if live.phase == "running":
                return frac, stage or (f"step {live.step}/{live.max_steps} · epoch {live.epoch:.2f} · "
                              f"ETA {fmt_eta(live.eta_s)}")
            if live.phase == "stopping":
                return frac, "Stopping…"
            if live.phase == "done":
                return 1.0, "Done"
            if live.phase == "cancelled":
                return frac, (f"Cancelled at step {live.step}/{live.max_steps}"
                              if live.max_steps else "Cancelled")
            return frac, "Failed"
        metrics = row.run.metrics or {}
        step, total = metrics.get("global_step"), metrics.get("max_steps")
        frac = step / total if isinstance(step, int) and isinstance(total, int) and total else 0.0
        text = {"done": "Done", "failed": "Failed", "running": "Running elsewhere"}.get(row.phase)
        if row.phase == "cancelled":
            text = f"Cancelled at step {step}/{total}" if total else "Cancelled"
        return (1.0 if row.phase == "done" else frac), text or row.phase

    def stats(self) -> str:
        """Elapsed time and speed of the live run while it trains."""
        row = self.current()
        if row is None or not row.live or self.live.phase not in ("running", "stopping"):
            return ""
        rate = f"  {self.live.samples_per_s:.1f} samples/s" if self.live.samples_per_s else ""
        return f"elapsed {fmt_eta(self.live.elapsed_s)}{rate}"

    def outcome(self) -> str:
        """The selected run's result in words, or why it stopped or failed."""
        row = self.current()
        if row is None:
            return ""
        run = row.run
        if row.phase == "done":
            return result_text(run.metrics, run.warnings)
        if row.phase == "failed":
            return f"Failed: {run.error}" if run.error else "Failed."
        if row.phase == "cancelled":
            return ("Cancelled: Resume continues from the last checkpoint." if run.checkpoint else
                    "Cancelled before the first checkpoint: start it again as a new run.")
        if row.phase == "stopping":
            return "Stopping: the run ends within a moment and keeps a checkpoint for Resume."
        return ""

    def buttons(self) -> dict[str, bool]:
        """Which of the page's buttons can act now."""
        row = self.current()
        run = row.run if row else None
        phase = row.phase if row else "idle"
        busy = self.busy
        done = phase == "done" and bool(run.model_path)
        lora = run is not None and run.config.get("method") == "lora" \
            and not run.config.get("merge_lora")
        language = run is not None and run.config.get("task") in ("causal-lm", "chat")
        resumable = phase in ("cancelled", "failed") and bool(run.checkpoint)
        return {
            "new": not busy,
            "cancel": busy and self.live.phase != "stopping",
            "resume": not busy and resumable,
            "script": run is not None,
            "merge": not busy and not self.merging and done and lora,
            "gguf": not self.exporting and done and language,
            "try": done and self.can_try,
        }
