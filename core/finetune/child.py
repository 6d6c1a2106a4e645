"""A fine-tune run in a child process: ``train_in_child(config, cancel, ...)`` yields the same
events as ``train`` (Progress, Log, TrainProgress, LossPoint, then Done(RunResult)), relayed from a
"spawn" child over a pipe.

Why a child: everything the run allocates (the model, the optimizer, the allocator's arenas, the
OpenMP team) goes back to the system when the child ends, and a crash in native code (a segfault,
the kernel's OOM killer) ends the child, not the window or the CLI that started it.

Cancel reaches the child through a shared event: the Trainer stops at the end of its step and
saves a checkpoint, exactly as in-process. Closing the generator does the same and waits for the
child. A child that dies without a last word is reported as ``TrainingCrashed`` naming the signal
or exit code; its run is marked failed in run.json and resumes from its last checkpoint.

Messages on the pipe, all picklable: ("event", Event), ("done", Done), ("error", module, class
name, message, hint, traceback text).
"""
from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from core.cancel import CancelToken
from core.errors import Cancelled, WorkbenchError
from core.events import Done, Event
from core.finetune.config import FinetuneConfig, check_output_name
from core.paths import AppHome

log = logging.getLogger(__name__)

STOP_WAIT_S = 300.0  # closing the generator: how long the child may take to checkpoint and end
POLL_S = 0.1


class TrainingCrashed(WorkbenchError):
    """The training process ended without finishing or reporting an error (killed, crashed)."""

    title = "Training crashed"

    def __init__(self, message: str, *, hint: str = "", exitcode: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exitcode = exitcode


def crash_message(exitcode: int | None) -> str:
    """A sentence naming how the training process ended, from its exit code."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return (f"The training process was killed ({name}), most likely by the system "
                    "because it ran out of memory.")
        if -exitcode in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGABRT):
            return f"The training process crashed in native code ({name})."
        return f"The training process was stopped by {name}."
    return f"The training process ended unexpectedly (exit code {exitcode})."


def train_in_child(config: FinetuneConfig, cancel: CancelToken, *, home: AppHome | None = None,
                   registry=None, resume: bool = False, overwrite: bool = False
                   ) -> Iterator[Event]:
    """``train(config, cancel, home=..., resume=..., overwrite=...)`` run in a "spawn" child
    process; yields its events and ends with Done(RunResult). ``registry`` only tells the home
    and whether to scan the Hugging Face cache: the child builds its own registry."""
    import multiprocessing

    if home is None:
        home = registry.home if registry is not None else AppHome.default()
    scan_hf_cache = bool(getattr(registry, "scan_hf_cache", True))
    name = check_output_name(config.output)
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    proc = ctx.Process(target=_child_main, name=f"finetune {name}", daemon=False,
                       args=(config, str(home.root), resume, overwrite, scan_hf_cache, sender,
                             stop))
    proc.start()
    sender.close()  # the child holds the only writing end: EOF on the pipe means it has ended
    finished = False
    try:
        while True:
            if cancel.cancelled and not stop.is_set():
                stop.set()
            if not receiver.poll(POLL_S):
                continue
            try:
                message = receiver.recv()
            except (EOFError, OSError):
                break  # the child is gone without a last word
            kind = message[0]
            if kind == "event":
                yield message[1]
            elif kind == "done":
                finished = True
                proc.join()
                yield message[1]
                return
            elif kind == "error":
                finished = True
                proc.join()
                raise _rebuild(*message[1:])
        proc.join()
        finished = True
        message = crash_message(proc.exitcode)
        raise TrainingCrashed(message, hint=_mark_failed(home, name, message),
                              exitcode=proc.exitcode)
    finally:
        if not finished:  # the consumer went away (closed, cancelled, interrupted)
            stop.set()
            _wait(proc, receiver, STOP_WAIT_S)
        receiver.close()


def _wait(proc, receiver, timeout: float) -> None:
    """Wait for the child to end (draining the pipe so it never blocks on a send); terminate it
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while proc.is_alive() and time.monotonic() < deadline:
        try:
            if receiver.poll(POLL_S):
                receiver.recv()
        except (EOFError, OSError):
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            break
    if proc.is_alive():
        log.warning("The training process did not stop within %.0f s; terminating it.", timeout)
        proc.terminate()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _mark_failed(home: AppHome, name: str, message: str) -> str:
    """run.json of a crashed run: failed, with the message. The hint for the user."""
    from core.finetune.runs import _read_run, _write_json, last_checkpoint, runs_dir

    run_dir = runs_dir(home) / name
    data = _read_run(run_dir)
    if data is not None and data.get("status") == "running":
        data.update(status="failed", finished=time.time(), error=message)
        try:
            _write_json(run_dir / "run.json", data)
        except OSError as exc:
            log.warning("Could not mark the run '%s' failed: %s", name, exc)
    checkpoint = last_checkpoint(run_dir)
    if checkpoint:
        return (f"Its checkpoints are kept: resume the run '{name}' to continue from "
                f"{Path(checkpoint).name}.")
    return "It stopped before its first checkpoint: start it again."


def _rebuild(module: str, cls_name: str, message: str, hint: str,
             trace: str) -> BaseException:
    """The child's error as a typed error in this process (its traceback goes to the log)."""
    import importlib

    if trace:
        log.error("The training process failed:\n%s", trace)
    cls = WorkbenchError
    try:
        found = getattr(importlib.import_module(module), cls_name)
        if isinstance(found, type) and issubclass(found, WorkbenchError):
            cls = found
    except (ImportError, AttributeError):
        pass
    err = cls.__new__(cls)
    Exception.__init__(err, f"{message} {hint}".strip())
    err.message, err.hint = message, hint
    return err


# ---- in the child -------------------------------------------------------------------------

class _EventToken(CancelToken):
    """Set by the parent (a multiprocessing Event) or when the parent process has gone."""

    def __init__(self, stop) -> None:
        super().__init__()
        self._stop = stop

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self._stop.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        return self._stop.wait(timeout) or self._event.is_set()


def _watch_parent(token: _EventToken) -> None:
    """A thread in the child: if the parent dies, stop the run (checkpointed) instead of
    training on as an orphan."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    while parent is not None and not token.cancelled:
        if not parent.is_alive():
            token.cancel()
            return
        time.sleep(1.0)


def _child_main(config: FinetuneConfig, root: str, resume: bool, overwrite: bool,
                scan_hf_cache: bool, sender, stop) -> None:
    """Entry point of the child: run ``train`` and send its events to the parent."""
    import threading
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's; it sets ``stop``
    from core.finetune.run import train
    from core.models.registry import Registry

    token = _EventToken(stop)
    threading.Thread(target=_watch_parent, args=(token,), name="parent watch",
                     daemon=True).start()
    home = AppHome(Path(root))
    try:
        registry = Registry(home, scan_hf_cache=scan_hf_cache)
        for ev in train(config, token, home=home, registry=registry, resume=resume,
                        overwrite=overwrite):
            sender.send(("done", ev) if isinstance(ev, Done) else ("event", ev))
    except BaseException as exc:  # reported to the parent, typed
        if isinstance(exc, WorkbenchError):
            reply = (type(exc).__module__, type(exc).__name__, exc.message, exc.hint, "")
        else:
            from core.errors import describe

            title, text = describe(exc)
            cls = "OutOfMemory" if title == "Out of memory" else "WorkbenchError"
            reply = ("core.errors", cls, text, "", traceback.format_exc())
        try:
            sender.send(("error", *reply))
        except (BrokenPipeError, OSError):
            pass
    finally:
        sender.close()
