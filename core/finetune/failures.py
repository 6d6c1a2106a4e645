"""Failures of a run the user can act on, as typed errors: out of memory, a full disk."""
from __future__ import annotations

import errno
import shutil
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
        from core.finetune.runs import last_checkpoint
        from core.paths import human_bytes

        try:
            free = f" ({human_bytes(shutil.disk_usage(run_dir).free)} free)"
        except OSError:
            free = ""
        ckpt = last_checkpoint(run_dir)
        if ckpt:
            hint = (f"Free some disk space, then resume the run: it continues from "
                    f"{Path(ckpt).name} (in {Path(ckpt).parent}).")
        else:
            hint = ("No complete checkpoint was saved, so there is nothing to resume: free some "
                    "disk space, then start the run again (overwrite it, or pick another name).")
        return BadInput(f"The disk is full{free}: the run could not write its files in "
                        f"'{run_dir}'; nothing half-written was kept.", hint=hint)
    if _is_oom(exc):
        return OutOfMemory("Training ran out of memory.",
                           hint="Lower the batch size or max length (raise gradient accumulation "
                                "to keep the effective batch), or pick a smaller model.")
    return exc

