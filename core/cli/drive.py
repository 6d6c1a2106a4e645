"""Running a core generator in the foreground for the CLI: progress on stderr, Ctrl+C cancels."""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from core.cancel import CancelToken
from core.events import Done, Event, Log, Progress


def drive(gen_factory: Callable[[CancelToken], Iterator[Event]], err: TextIO) -> Any:
    """Run a core generator in the foreground, printing progress on stderr; return Done.result.

    Ctrl+C sets the cancel token so the generator can stop cleanly; a second one interrupts, and
    the generator is closed (its worker threads are joined) before the interrupt goes on.
    """
    cancel = CancelToken()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(_sig, _frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()

    try:
        signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (tests): no handler, no problem
        previous = None
    result = None
    last_line = ""
    events = None
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
    finally:
        close = getattr(events, "close", None)
        if close is not None:  # a generator left early (Ctrl+C twice, an error): its work stops
            close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return result
