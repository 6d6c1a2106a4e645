"""Runs on disk: ``runs/<name>/run.json`` (config, data files with sha256, status, losses,
metrics) and ``runs/<name>/checkpoints``; listing runs, their last complete checkpoint, and the
checks before a new run or a resumed one (name free, saved config, same data).

run.json is rewritten atomically; one that cannot be read is set aside as
``run.json.broken-<time>`` and the run is listed as failed with a sentence saying so. A checkpoint
counts only once it is complete (``CHECKPOINT_MARK``, written after its files are on disk), so a
kill or a full disk in the middle of a save never becomes the point a run resumes from."""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInput
from core.finetune.config import FinetuneConfig
from core.finetune.events import LossPoint
from core.paths import AppHome, atomic_write, atomic_write_json, fsync_tree, set_aside

STATUSES = ("running", "done", "cancelled", "failed")
RUN_FILE = "run.json"
CHECKPOINT_MARK = "workbench-complete"  # in a checkpoint folder: every file of it is on disk


@dataclass(frozen=True)
class RunInfo:
    name: str
    status: str  # "running" | "done" | "cancelled" | "failed"
    config: dict
    metrics: dict
    losses: list[dict]
    path: str  # the run folder
    started: float
    finished: float | None
    error: str = ""
    model_path: str | None = None
    checkpoint: str | None = None
    warnings: tuple[str, ...] = ()  # e.g. the training loss did not go down



def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def runs_dir(home: AppHome) -> Path:
    return home.root / "runs"


def _read_run(run_dir: Path) -> dict | None:
    try:
        data = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _broken_run(run_dir: Path) -> str:
    """'' when the run has no run.json or a readable one; otherwise the broken file is set aside
    (its bytes kept as ``run.json.broken-<time>``) and a sentence says so. A run folder whose
    run.json was set aside earlier is named too."""
    path = run_dir / RUN_FILE
    if path.is_file() and _read_run(run_dir) is None:
        try:
            backup = set_aside(path)
        except OSError as exc:
            return (f"Its run.json cannot be read and cannot be set aside "
                    f"({exc.strerror or exc}).")
        return (f"Its run.json could not be read; the original is kept as '{backup.name}'. "
                "Its checkpoints are untouched.")
    if not path.exists():
        old = sorted(run_dir.glob(RUN_FILE + ".broken-*"))
        if old:
            return (f"Its run.json could not be read; the original is kept as '{old[-1].name}'. "
                    "Its checkpoints are untouched.")
    return ""


def _write_json(path: Path, data: dict) -> None:
    atomic_write_json(path, data)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        import psutil

        return psutil.pid_exists(pid)
    except ImportError:  # psutil is a dependency; without it assume the run is alive
        return True


def _status(data: dict) -> str:
    status = data.get("status", "failed")
    if status == "running" and not _alive(data.get("pid")):
        return "failed"  # the process that ran it is gone (crash or kill)
    return status if status in STATUSES else "failed"


def _checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    out = []
    for p in (Path(run_dir) / "checkpoints").glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def _state_readable(folder: Path) -> bool:
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(state, dict) and "global_step" in state


def _complete(folder: Path, marked_run: bool) -> bool:
    """A checkpoint the Trainer finished writing. Runs that mark their checkpoints need the mark;
    older runs (no mark anywhere) need a readable trainer_state.json, the file written last."""
    if marked_run:
        return (folder / CHECKPOINT_MARK).is_file() and _state_readable(folder)
    return _state_readable(folder)


def _split_checkpoints(run_dir: Path) -> tuple[list[Path], list[Path]]:
    """(complete, incomplete) checkpoint folders of a run, oldest first."""
    ckpts = _checkpoints(run_dir)
    marked = any((p / CHECKPOINT_MARK).is_file() for _n, p in ckpts)
    done, partial = [], []
    for _n, p in ckpts:
        (done if _complete(p, marked) else partial).append(p)
    return done, partial


def last_checkpoint(run_dir: Path) -> str | None:
    """The newest complete ``checkpoint-N`` folder of a run, or None."""
    done, _partial = _split_checkpoints(run_dir)
    return str(done[-1]) if done else None


def drop_incomplete_checkpoints(run_dir: Path) -> list[str]:
    """Delete the checkpoint folders a kill or a full disk left half-written; their names."""
    import shutil

    _done, partial = _split_checkpoints(run_dir)
    for p in partial:
        shutil.rmtree(p, ignore_errors=True)
    return [p.name for p in partial]


def adopt_unmarked_checkpoints(run_dir: Path) -> None:
    """A run saved before checkpoints were marked: mark its complete ones, so the marked ones a
    resumed run adds never make them look half-written."""
    ckpts = _checkpoints(run_dir)
    if any((p / CHECKPOINT_MARK).is_file() for _n, p in ckpts):
        return
    for _n, p in ckpts:
        if _state_readable(p):
            atomic_write(p / CHECKPOINT_MARK, "")


def mark_checkpoint_complete(folder: str | Path) -> None:
    """Flush a checkpoint the Trainer just saved to disk, then mark it complete."""
    fsync_tree(folder)
    atomic_write(Path(folder) / CHECKPOINT_MARK, "")


def list_runs(home: AppHome | None = None) -> list[RunInfo]:
    """Every run under the app home, newest first, with its status, metrics and loss curve."""
    home = home or AppHome.default()
    out = []
    root = runs_dir(home)
    if not root.is_dir():
        return out
    for run_dir in root.iterdir():
        if not run_dir.is_dir():
            continue
        broken = _broken_run(run_dir)
        if broken:
            out.append(RunInfo(name=run_dir.name, status="failed", config={}, metrics={},
                               losses=[], path=str(run_dir),
                               started=run_dir.stat().st_mtime, finished=None, error=broken,
                               checkpoint=last_checkpoint(run_dir)))
            continue
        data = _read_run(run_dir)
        if data is None:
            continue
        out.append(RunInfo(
            name=data.get("name", run_dir.name), status=_status(data),
            config=data.get("config", {}), metrics=data.get("metrics", {}),
            losses=list(data.get("losses", [])), path=str(run_dir),
            started=float(data.get("started", 0.0)), finished=data.get("finished"),
            error=data.get("error", ""), model_path=data.get("model_path"),
            checkpoint=last_checkpoint(run_dir),
            warnings=tuple(str(w) for w in data.get("warnings") or ())))
    out.sort(key=lambda r: r.started, reverse=True)
    return out


class _RunFile:
    """run.json of one run, rewritten atomically whenever it changes."""

    def __init__(self, run_dir: Path, data: dict) -> None:
        self.path = run_dir / RUN_FILE
        self.data = data
        self._lock = threading.Lock()

    def save(self, **changes) -> None:
        with self._lock:
            self.data.update(changes)
            _write_json(self.path, self.data)

    def add_loss(self, point: LossPoint) -> None:
        with self._lock:
            self.data.setdefault("losses", []).append(
                {"step": point.step, "loss": point.loss, "split": point.split,
                 "learning_rate": point.learning_rate})
            _write_json(self.path, self.data)



def run_lock_file(home: AppHome, name: str) -> Path:
    """The lock a process holds while it trains the run ``name`` (beside the run's folder, so
    deleting the folder never breaks the lock)."""
    return runs_dir(home) / f".{name}.lock"


def _check_name_free(home: AppHome, name: str, resume: bool,
                     overwrite: bool = False) -> dict | None:
    """The previous run.json of ``name`` (or None). BadInput when the name is taken, and when a
    stopped run of that name has checkpoints a new run would delete (unless ``overwrite``)."""
    run_dir = runs_dir(home) / name
    if run_dir.is_dir() and _broken_run(run_dir):
        if resume:
            raise BadInput(f"The run '{name}' cannot be resumed: {_broken_run(run_dir)}",
                           hint="Start a new run with another --output name.")
        if not overwrite:
            raise BadInput(f"The run '{name}' cannot be read: {_broken_run(run_dir)}",
                           hint="Choose another output name, or start over with --overwrite "
                                "(its checkpoints are deleted).")
    prev = _read_run(run_dir) if run_dir.is_dir() else None
    status = _status(prev) if prev else None
    if resume:
        if prev is None:
            raise BadInput(f"There is no run called '{name}' to resume.",
                           hint="Start a new run instead.")
        if status == "done":
            raise BadInput(f"The run '{name}' already finished; there is nothing to resume.")
        if status == "running":
            raise BadInput(f"The run '{name}' is still running.")
        if last_checkpoint(run_dir) is None:
            raise BadInput(f"The run '{name}' has no checkpoint to resume from (it stopped before "
                           "its first save).", hint="Start it again as a new run.")
        return prev
    if (home.trained / name).exists():
        raise BadInput(f"A fine-tuned model called '{name}' already exists.",
                       hint="Choose another output name, or delete that model first.")
    if status == "done":
        raise BadInput(f"A finished run called '{name}' already exists.",
                       hint="Choose another output name.")
    if status == "running":
        raise BadInput(f"A run called '{name}' is training right now.",
                       hint="Choose another output name, or wait for it to finish.")
    ckpt = last_checkpoint(run_dir) if run_dir.is_dir() else None
    if ckpt and not overwrite:
        raise BadInput(f"The run '{name}' stopped ({status or 'unknown state'}) with a checkpoint "
                       f"at {Path(ckpt).name}; starting it again would delete it.",
                       hint="Resume it (CLI: --resume), choose another output name, or start "
                            "over, deleting it (CLI: --overwrite).")
    return prev


def _data_records(files: tuple[str, ...]) -> list[dict]:
    return [{"path": str(Path(f).resolve()), "sha256": _sha256(Path(f)),
             "size": Path(f).stat().st_size} for f in files]



def saved_config(name: str, home: AppHome | None = None) -> FinetuneConfig:
    """The configuration the run ``name`` was started with (its run.json), to resume it.
    BadInput when there is no such run or its configuration cannot be read."""
    home = home or AppHome.default()
    prev = _read_run(runs_dir(home) / name)
    if prev is None:
        raise BadInput(f"There is no run called '{name}' to resume.",
                       hint="Start a new run instead.")
    return _config_of(prev, name)


def _config_of(prev: dict, name: str) -> FinetuneConfig:
    try:
        return FinetuneConfig.from_dict({**(prev.get("config") or {}), "output": name})
    except TypeError as exc:
        raise BadInput(f"The run '{name}' has an unreadable configuration.") from exc


def resume_state(home: AppHome, name: str, device: str) -> tuple[FinetuneConfig, dict, str]:
    """(config, run.json, checkpoint) to continue the run ``name``: its saved settings (only the
    device may change), its data unchanged since it started, and a checkpoint to start from."""
    prev = _check_name_free(home, name, resume=True)
    assert prev is not None
    # the same training settings; only the device may change (e.g. resumed on another GPU)
    config = FinetuneConfig.from_dict({**_config_of(prev, name).to_dict(), "device": device})
    config.validate()
    for rec in prev.get("data", []):
        p = Path(rec["path"])
        if not p.is_file():
            raise BadInput(f"The data file '{p}' of run '{name}' is missing.",
                           hint="Put it back where it was to resume, or start a new run.")
        if _sha256(p) != rec.get("sha256"):
            raise BadInput(f"The data file '{p.name}' changed since the run started.",
                           hint="Resuming needs the same data; start a new run instead.")
    checkpoint = last_checkpoint(runs_dir(home) / name)
    assert checkpoint is not None  # _check_name_free refuses a run without one
    return config, prev, checkpoint
