"""An event-loop stall probe that says what was going on during each stall (bench/stalls.py, and
anyone chasing a freeze).

    probe = StallProbe(threshold_ms=50)    start() / stop(); phase("chat reply") labels what follows
    probe.lateness["chat reply"]           every tick's lateness (ms) in that phase
    probe.stalls                           [Stall]: phase, when, how late, and the attribution

Three witnesses, because a stall hides its cause in different places:
- a 10 ms QTimer on the GUI thread records its own lateness (the stall itself);
- a watchdog thread samples every thread's stack (faulthandler's dump) every 10 ms into a ring
  buffer: a stall caused by Python code (on the GUI thread, or a worker holding the interpreter)
  shows in the samples of its window. A C call that holds the interpreter (a module's native
  library loading, a tokenizer built in Rust without letting go) stops the watchdog too: then the
  samples have a gap, and the last sample before it names what the holding thread was entering;
- an audit hook logs each import of a heavy package (torch, transformers, ctranslate2, ...) with
  its thread and time: the phase markers of the commonest cause (a native library loading).
"""
from __future__ import annotations

import faulthandler
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer

HEAVY = frozenset({
    "torch", "transformers", "ctranslate2", "faster_whisper", "whisper", "peft", "tokenizers",
    "llama_cpp", "numpy", "scipy", "sklearn", "safetensors", "accelerate", "datasets",
    "sentencepiece", "soundfile", "av", "pyqtgraph", "huggingface_hub", "keyring",
})
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DEPTH = 40  # frames kept per thread and sample


@dataclass
class Stall:
    phase: str
    at: float  # time.monotonic() at the late tick
    late_ms: float
    gui: str  # what the GUI thread was doing
    workers: list[str] = field(default_factory=list)  # "thread: where" for each busy worker
    held_ms: float = 0.0  # the longest gap in the watchdog's samples: the interpreter was held
    before_gap: list[str] = field(default_factory=list)  # where the threads were just before it
    imports: list[str] = field(default_factory=list)  # heavy imports that started in the window

    def describe(self) -> str:
        parts = [f"GUI thread: {self.gui}"]
        if self.workers:
            parts.append("workers: " + "; ".join(self.workers))
        if self.held_ms >= 20:
            where = "; ".join(self.before_gap) or "?"
            parts.append(f"interpreter held {self.held_ms:.0f} ms (a C call, or the machine busy); "
                         f"just before: {where}")
        if self.imports:
            parts.append("imports: " + ", ".join(self.imports))
        if not self.workers and self.held_ms < 20 and not self.imports and _waiting(self.gui):
            parts.append("no thread of this process was working: the CPU went to other processes")
        return " | ".join(parts)


class _ImportLog:
    """Heavy imports (top-level package, thread, time) from an audit hook. Audit hooks cannot be
    removed: one per process, switched on and off."""

    _instance: _ImportLog | None = None

    def __init__(self) -> None:
        self.on = False
        self.events: deque[tuple[float, str, str]] = deque(maxlen=2000)
        sys.addaudithook(self._hook)

    @classmethod
    def get(cls) -> _ImportLog:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _hook(self, event: str, args: tuple) -> None:
        if not self.on or event != "import":
            return
        name = args[0] if args and isinstance(args[0], str) else ""
        top = name.partition(".")[0]
        if top in HEAVY and name == top and name not in sys.modules:
            self.events.append((time.monotonic(), threading.current_thread().name, name))


def _where(frames: tuple) -> str:
    """The innermost frame, and the innermost of the project's when that is another one."""
    frames = tuple(f for f in frames if not f[0].endswith("stall_probe.py"))  # the audit hook
    if not frames:
        return "?"
    inner = frames[0]
    text = f"{os.path.basename(inner[0])}:{inner[1]} {inner[2]}"
    own = next((f for f in frames if f[0].startswith(ROOT)), None)
    if own is not None and own is not inner:
        text += f" (from {os.path.relpath(own[0], ROOT)}:{own[1]} {own[2]})"
    return text


class StallProbe(QObject):
    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 10,
                 threshold_ms: float = 50.0, keep_s: float = 5.0) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.threshold_ms = threshold_ms
        self.current = "idle"
        self.lateness: dict[str, list[float]] = {}
        self.stalls: list[Stall] = []
        self._samples: deque = deque(maxlen=int(keep_s * 1000 / interval_ms))
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._gui_ident = threading.get_ident()
        self._imports = _ImportLog.get()

    # ---- control -------------------------------------------------------------------------
    def start(self) -> None:
        self._last = time.monotonic()
        self._stop.clear()
        self._imports.on = True
        self._watchdog = threading.Thread(target=self._watch, name="stall watchdog")
        self._watchdog.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._stop.set()
        self._imports.on = False
        if self._watchdog is not None:
            self._watchdog.join()
            self._watchdog = None

    def phase(self, name: str) -> None:
        """What runs from now on (the figures are kept per phase); the last tick's lateness still
        counts for the phase before."""
        self._tick()
        self.current = name

    # ---- figures -------------------------------------------------------------------------
    def worst(self, phase: str) -> Stall | None:
        stalls = [s for s in self.stalls if s.phase == phase]
        return max(stalls, key=lambda s: s.late_ms) if stalls else None

    def summary(self, phase: str) -> tuple[float, float, int]:
        """(longest lateness, 99th percentile, ticks) in ms for one phase."""
        late = sorted(self.lateness.get(phase, ()))
        if not late:
            return 0.0, 0.0, 0
        return late[-1], late[min(len(late) - 1, int(len(late) * 0.99))], len(late)

    # ---- the witnesses -------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        late = max(0.0, (now - self._last) * 1000 - self.interval_ms)
        self._last = now
        self.lateness.setdefault(self.current, []).append(late)
        if late > self.threshold_ms:
            self.stalls.append(self._attribute(now - (late + self.interval_ms) / 1000, now, late))

    def _watch(self) -> None:
        """Every ``interval_ms``: every thread's stack as faulthandler writes it (raw; parsed only
        for a stall). faulthandler reads the interpreter's own frame records and makes no Python
        object: walking other threads' frame objects (``sys._current_frames`` and ``f_back``)
        made frame objects for frames those threads were still running, and that crashed the
        interpreter (a segmentation fault in this thread, in 2 of 14 runs of bench/stalls.py)."""
        names: dict[int, str] = {}
        period = self.interval_ms / 1000
        fd, path = tempfile.mkstemp(prefix="stall-probe-")
        os.unlink(path)
        try:
            while not self._stop.wait(period):
                if len(names) != threading.active_count():
                    names = {t.ident: t.name for t in threading.enumerate() if t.ident}
                    names[self._gui_ident] = "GUI"
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                faulthandler.dump_traceback(fd, all_threads=True)
                os.lseek(fd, 0, os.SEEK_SET)
                chunks = []
                while chunk := os.read(fd, 1 << 16):
                    chunks.append(chunk)
                self._samples.append((time.monotonic(), b"".join(chunks), names))
        finally:
            os.close(fd)

    @staticmethod
    def _stacks(sample) -> dict[str, tuple]:
        """A sample's stacks by thread name (the GUI thread: "GUI"), the watchdog left out."""
        _t, raw, names = sample
        return {names.get(ident, f"thread {ident}"): frames
                for ident, frames in parse_dump(raw.decode("utf-8", "replace")).items()}

    def _attribute(self, start: float, end: float, late: float) -> Stall:
        samples = [s for s in list(self._samples) if start - 0.02 <= s[0] <= end + 0.02]
        before = [s for s in list(self._samples) if s[0] < start]
        if before:
            samples.insert(0, before[-1])
        samples = [(s[0], self._stacks(s)) for s in samples]
        gui = Counter(_where(s[1].get("GUI", ())) for s in samples)
        workers: dict[str, Counter] = {}
        for _t, stacks in samples:
            for name, frames in stacks.items():
                if name != "GUI" and frames and not _idle(frames):
                    workers.setdefault(name, Counter())[_where(frames)] += 1
        held, before_gap = 0.0, []
        for a, b in zip(samples, samples[1:]):
            gap = (b[0] - a[0]) * 1000 - self.interval_ms
            if gap > held:
                held = gap
                before_gap = [f"{n}: {_where(fr)}" for n, fr in a[1].items()
                              if fr and not _idle(fr)]
        imports = [f"{name} ({thread}, {1000 * (t - start):+.0f} ms)"
                   for t, thread, name in list(self._imports.events)
                   if start - 0.5 <= t <= end]
        return Stall(self.current, end, late,
                     gui.most_common(1)[0][0] if gui else "no sample (interpreter held)",
                     [f"{n}: {c.most_common(1)[0][0]}" for n, c in workers.items()],
                     held, before_gap, imports)


_THREAD = re.compile(r"^(Current thread|Thread) 0x([0-9a-fA-F]+)")
_FRAME = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')


def parse_dump(text: str) -> dict[int, tuple]:
    """faulthandler's dump of all threads: {thread ident: ((file, line, function), ...)}, the
    most recent call first, at most ``_DEPTH`` frames each; the thread that wrote the dump (its
    "Current thread") left out."""
    stacks: dict[int, list] = {}
    frames: list | None = None
    for line in text.splitlines():
        m = _THREAD.match(line)
        if m:
            frames = None if m.group(1) == "Current thread" else \
                stacks.setdefault(int(m.group(2), 16), [])
            continue
        m = _FRAME.match(line)
        if m and frames is not None and len(frames) < _DEPTH:
            frames.append((m.group(1), int(m.group(2)), m.group(3)))
    return {ident: tuple(f) for ident, f in stacks.items()}


def _idle(frames: tuple) -> bool:
    """A thread waiting (a lock, a queue, a sleep), not working."""
    name = frames[0][2]
    return name in ("wait", "_wait_for_tstate_lock", "select", "poll", "accept", "get", "sleep",
                    "_recv", "recv", "readinto", "read", "join") or \
        os.path.basename(frames[0][0]) in ("threading.py", "selectors.py", "queue.py", "thread.py")


def _waiting(where: str) -> bool:
    """The GUI thread's sample shows it in the event loop (an exec, a sleep or wait of a QEventLoop)."""
    return any(w in where for w in (" wait", " sleep", " exec", " run_app", " ensure", " main"))
