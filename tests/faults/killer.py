"""Runs ``main.py`` with a fault injected at one point of a fine-tune run, for the kill tests:
``python -m tests.faults.killer POINT N -- main.py args...``. POINT is where the process kills
itself with SIGKILL (as ``kill -9`` would): ``prep`` (while the data is prepared), ``step`` (at
the N-th training step), ``save`` (in the middle of writing the N-th checkpoint: weights and
optimizer written, trainer state not yet), or ``full`` (the N-th checkpoint fails with a full
disk after its weights were written)."""
from __future__ import annotations

import errno
import os
import signal
import sys


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _at(cls, name: str, nth: int, action) -> None:
    original = getattr(cls, name)
    calls = [0]

    def wrapped(*a, **kw):
        calls[0] += 1
        if calls[0] == nth:
            if name == "_save_rng_state":  # the files before it are on disk: die mid-save
                original(*a, **kw)
            action()
        return original(*a, **kw)

    setattr(cls, name, wrapped)


def _full() -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def main() -> int:
    point, nth = sys.argv[1], int(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1:]
    from transformers import Trainer

    import core.finetune.run as run

    if point == "prep":
        original = run._prepare

        def prep(*a, **kw):
            _die()
            return original(*a, **kw)

        run._prepare = prep
    elif point == "step":
        _at(Trainer, "training_step", nth, _die)
    elif point == "save":
        _at(Trainer, "_save_rng_state", nth, _die)
    elif point == "full":
        _at(Trainer, "_save_rng_state", nth, _full)
    else:
        raise SystemExit(f"unknown point {point}")
    # The CLI trains in a child process; the fault is injected in this one, so the run trains
    # here: the process killed is the one training, as a kill -9 of the trainer would be.
    import core.finetune as finetune

    def in_process(config, cancel, *, home=None, registry=None, resume=False, overwrite=False):
        return run.train(config, cancel, home=home, registry=registry, resume=resume,
                         overwrite=overwrite)

    finetune.train_in_child = in_process
    import main as app

    return app.main(argv)


if __name__ == "__main__":
    sys.exit(main())
