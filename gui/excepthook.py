"""Uncaught exceptions (in a slot, a paintEvent, a Python thread) reach the log and the
notification strip, never the terminal alone. PySide6 hands an exception raised in a slot or an
overridden Qt method to ``sys.excepthook``; Python threads hand theirs to ``threading.excepthook``.
Either may fire on any thread, so the strip is reached through a queued signal."""
from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

log = logging.getLogger("workbench")


class _Relay(QObject):
    caught = Signal(object)


def install_excepthooks(show: Callable[[BaseException], None]) -> Callable[[], None]:
    """Route uncaught exceptions to the log and to ``show`` (on the GUI thread). Returns a function
    that puts the previous hooks back."""
    relay = _Relay()
    relay.caught.connect(show)  # queued when emitted from another thread
    old_sys, old_thread = sys.excepthook, threading.excepthook

    def report(exc_type, exc, tb, where: str) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            old_sys(exc_type, exc, tb)
            return
        log.error("uncaught exception %s", where, exc_info=(exc_type, exc, tb))
        if exc is None:
            exc = exc_type()
        try:
            relay.caught.emit(exc)
        except RuntimeError:  # the window is gone (quitting): the log has it
            pass

    def sys_hook(exc_type, exc, tb) -> None:
        report(exc_type, exc, tb, "in the GUI")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        report(args.exc_type, args.exc_value, args.exc_traceback, f"in thread {name}")

    sys.excepthook = sys_hook
    threading.excepthook = thread_hook

    def uninstall() -> None:
        sys.excepthook, threading.excepthook = old_sys, old_thread
        relay.deleteLater()

    uninstall.relay = relay  # kept alive with the hook
    return uninstall
