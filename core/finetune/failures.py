"""Failures of a run the user can act on, as typed errors: out of memory, a full disk."""
from __future__ import annotations

import errno
from pathlib import Path

from core.errors import BadInput, OutOfMemory, WorkbenchError
from core.models.loading import is_out_of_memory


def _is_oom(exc: BaseException) -> bool:
    return is_out_of_memory(exc) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _is_disk_full(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "no space left on device" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _translate(exc: BaseException, run_dir: Path) -> BaseException:
    """A typed error for failures the user can act on; others unchanged."""
    if isinstance(exc, WorkbenchError):
        return exc
    if _is_disk_full(exc):
        return BadInput(f"The disk is full: the run could not write its files ({exc}).",
                        hint=f"Free some disk space, then resume the run (its checkpoints are in "
                             f"{run_dir / 'checkpoints'}).")
    if _is_oom(exc):
        return OutOfMemory("Training ran out of memory.",
                           hint="Lower the batch size or max length (raise gradient accumulation "
                                "to keep the effective batch), or pick a smaller model.")
    return exc

