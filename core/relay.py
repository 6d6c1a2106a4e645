"""The one thread-to-generator relay: blocking library work (a download, a Trainer, a decoder)
runs on a worker thread and its events reach the caller's generator in order.

The worker is never a daemon: whoever stops consuming (a cancel, a closed generator, an error)
sets the cancel token and waits for the worker to end, so no library work outlives its job.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from core.cancel import CancelToken
from core.events import Event

T = TypeVar("T")
Emit = Callable[[Event], None]
_END = object()


def relay(work: Callable[[Emit], T], cancel: CancelToken, *, name: str,
          poll_s: float = 0.05) -> Generator[Event, None, T]:
    """Run ``work(emit)`` on a worker thread; yield each event it emits, then return its result
    (``yield from relay(...)``) or raise its exception. ``work`` must watch ``cancel``."""
    items: queue.SimpleQueue[Any] = queue.SimpleQueue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work(items.put)
        except BaseException as exc:  # handed to the consumer below
            outcome["error"] = exc
        finally:
            items.put(_END)

    thread = threading.Thread(target=run, name=name, daemon=False)
    thread.start()
    try:
        while True:
            try:
                item = items.get(timeout=poll_s)
            except queue.Empty:
                continue
            if item is _END:
                break
            yield item
    finally:
        if thread.is_alive():  # the consumer stopped early: ask the work to stop, and wait
            cancel.cancel()
            thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
