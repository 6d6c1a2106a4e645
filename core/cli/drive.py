"""Running a core generator in the foreground for the CLI: progress on stderr; Ctrl+C (SIGINT) or
SIGTERM (a logout, ``timeout``) cancels it so it stops cleanly and keeps what it did."""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from core.cancel import CancelToken
from core.errors import Cancelled
from core.events import Done, Event, Log, Progress

STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None))
                     if s is not None)


class Stop(CancelToken):
    """A cancel token that remembers the signal that set it (for the exit code: 128 + signal)."""

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or signal.SIGINT)


@contextmanager
def cancel_on_signals(cancel: CancelToken):
    """While inside: SIGINT or SIGTERM sets ``cancel`` (the work stops at its next check and keeps
    what it did); a second one raises KeyboardInterrupt. Outside the main thread: no handlers."""
    previous = {}

    def on_signal(signum, _frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        if isinstance(cancel, Stop):
            cancel.signum = signum
        cancel.cancel()

    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, on_signal)
    except ValueError:  # not the main thread (tests): no handler, no problem
        previous = {}
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def drive(gen_factory: Callable[[CancelToken], Iterator[Event]], err: TextIO,
          cancel: CancelToken | None = None) -> Any:
    """Run a core generator in the foreground, printing progress on stderr; return Done.result.

    Ctrl+C or SIGTERM sets the cancel token (``cancel``, when the caller wants to know) so the
    generator can stop cleanly; a second one interrupts, and the generator is closed (its worker
    threads are joined) before the interrupt goes on.
    """
    cancel = cancel if cancel is not None else Stop()
    result = None
    last_line = ""
    events = None
    with cancel_on_signals(cancel):
        try:
            events = gen_factory(cancel)
            for event in events:
                if isinstance(event, Progress):
                    frac = event.fraction
                    line = f"{event.stage}" + (f" {frac * 100:3.0f}%" if frac is not None else "")
                    if line != last_line:
                        print(line, file=err, flush=True)
                        last_line = line
                elif isinstance(event, Log):
                    print(event.message, file=err, flush=True)
                elif isinstance(event, Done):
                    result = event.result
                    if event.summary:
                        print(event.summary, file=err, flush=True)
        except Cancelled as exc:  # the exit code says which signal stopped it
            if isinstance(cancel, Stop) and cancel.signum:
                exc.exit_code = cancel.exit_code
            raise
        finally:
            close = getattr(events, "close", None)
            if close is not None:  # a generator left early (Ctrl+C twice, an error): it stops
                close()
    return result
