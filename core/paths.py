"""Where the app keeps its data (settings, converted and trained models, logs), and how it writes
there: atomically, with a clear message on a read-only or full disk, one process at a time."""
from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "LLM_WORKBENCH_HOME"
APP_NAME = "llm-workbench"


@dataclass(frozen=True)
class AppHome:
    root: Path

    @classmethod
    def default(cls) -> AppHome:
        override = os.environ.get(ENV_HOME)
        if override:
            return cls(Path(override).expanduser())
        from platformdirs import user_data_dir

        return cls(Path(user_data_dir(APP_NAME, appauthor=False)))

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def converted(self) -> Path:
        return self.models / "converted"

    @property
    def trained(self) -> Path:
        return self.models / "trained"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def user_models_file(self) -> Path:
        return self.root / "user_models.json"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.ini"

    def ensure(self) -> AppHome:
        """Create the folders; BadInput naming the data folder when that is impossible."""
        for p in (self.root, self.converted, self.trained, self.logs):
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise write_problem(exc, p, folder=p) from exc
        return self


# ---- writing files safely ------------------------------------------------------------------------
# Every file the app writes goes through ``atomic_write``: a temporary file beside the target,
# flushed and fsynced, then renamed over it. A crash, a kill or a full disk leaves either the old
# file or the new one, never half of one, and never a stray temporary file.

BROKEN_SUFFIX = ".broken-"
SPACE_MARGIN = 16 << 20  # kept free on top of what a write needs


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _fsync_folder(folder: Path) -> None:
    if os.name == "nt":  # folders cannot be opened for fsync on Windows; the rename is durable
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_problem(exc: OSError, path: Path, needed: int | None = None, *,
                  folder: Path | None = None):
    """A BadInput naming the folder for a write that failed: read-only, permission, full disk."""
    import errno

    from core.errors import BadInput

    folder = Path(folder) if folder is not None else Path(path).parent
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = f" ({human_bytes(shutil.disk_usage(folder).free)} free)"
        except OSError:
            free = ""
        size = f"about {human_bytes(needed + SPACE_MARGIN)}" if needed else "more space"
        return BadInput(f"The disk holding '{folder}' is full{free}: '{Path(path).name}' "
                        f"needs {size}.", hint="Free some disk space, then try again.")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return BadInput(f"The folder '{folder}' cannot be written ({exc.strerror or exc}).",
                        hint="Make it writable, or set LLM_WORKBENCH_HOME to a writable folder.")
    return BadInput(f"Cannot write '{path}': {exc.strerror or exc}.")


def atomic_write(path: str | Path, data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename). On failure the old
    file is untouched, no temporary file is left, and a BadInput names the folder (and the space
    needed when the disk is full)."""
    import tempfile

    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else bytes(data)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(path.parent)
    except OSError as exc:
        raise write_problem(exc, path, len(raw)) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_json(path: str | Path, data, **dump_kw) -> Path:
    import json

    return atomic_write(path, json.dumps(data, indent=2, **dump_kw) + "\n")


def fsync_tree(folder: str | Path) -> None:
    """Flush every file under ``folder`` (and the folders) to disk: before a folder written in
    place (a checkpoint, a model) is declared complete."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as fh:
                    os.fsync(fh.fileno())
            except OSError:
                pass
        _fsync_folder(Path(root))


def set_aside(path: str | Path) -> Path:
    """Move a broken file to ``<name>.broken-<time>`` beside it (never over an earlier copy);
    returns the new path. OSError when it cannot be moved."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while True:
        backup = path.with_name(f"{path.name}{BROKEN_SUFFIX}{stamp}" + (f"-{n}" if n > 1 else ""))
        try:  # reserve the name, so an earlier copy is never replaced
            os.close(os.open(backup, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            n += 1
    try:
        os.replace(path, backup)
    except OSError:
        backup.unlink(missing_ok=True)
        raise
    return backup


def need_space(folder: str | Path, needed: int, what: str) -> None:
    """BadInput when the disk holding ``folder`` has less than ``needed`` bytes free."""
    from core.errors import BadInput

    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed + SPACE_MARGIN:
        raise BadInput(f"Not enough disk space for {what}: it needs about "
                       f"{human_bytes(needed + SPACE_MARGIN)} in '{folder}', and only "
                       f"{human_bytes(free)} is free.",
                       hint="Free some disk space or set LLM_WORKBENCH_HOME to a bigger disk.")


# ---- one writer at a time across processes --------------------------------------------------------
class Busy(Exception):
    """The lock is held by another process (``file_lock(..., wait=False)``)."""


@contextmanager
def file_lock(path: str | Path, *, wait: bool = True, timeout: float = 30.0):
    """Hold an exclusive lock on the file ``path`` (created if needed, never deleted) across
    processes: fcntl.flock on Linux and macOS, msvcrt.locking on Windows. ``wait=False`` raises
    Busy at once when another process holds it; otherwise waits up to ``timeout`` seconds.
    BadInput, naming the folder, when the lock file cannot be created."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a read-only or full data folder: say which
        raise write_problem(exc, path) from exc
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                _lock(fd)
                break
            except OSError as exc:
                if not wait or time.monotonic() > deadline:
                    raise Busy(str(path)) from exc
                time.sleep(0.02)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
