"""Ctrl-C (SIGINT) and SIGTERM close the window the normal way (jobs cancelled, work saved).

Qt's event loop runs in C++: Python only sees a signal when Python code next runs, which is why a
bare Ctrl-C used to surface as a KeyboardInterrupt inside whatever slot or paintEvent ran next. The
handler here only records the signal and asks for a close on the next turn of the event loop; a
short timer gives Python a chance to run so the signal is noticed within a fraction of a second.
"""
from __future__ import annotations

import logging
import signal
from collections.abc import Callable

from PySide6.QtCore import QTimer

log = logging.getLogger("workbench")

SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s)
WAKE_MS = 200  # how often Python gets to look for a pending signal


def close_on_signals(close: Callable[[], object]) -> Callable[[], int]:
    """Install the handlers; returns ``stop()``, which restores the previous handlers and returns
    the number of the signal that asked for the close (0 when none did)."""
    received: list[int] = []

    def handler(signum, _frame) -> None:
        if not received:
            log.info("signal %d received: closing the window", signum)
        received.append(signum)
        QTimer.singleShot(0, close)  # never inside the code the signal interrupted

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(WAKE_MS)

    def stop() -> int:
        wake.stop()
        for s, h in previous.items():
            signal.signal(s, h)
        return received[0] if received else 0

    return stop
