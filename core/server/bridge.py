"""Core generators on worker threads, their events on the server's event loop.

``events(factory, cancel, on_end)`` starts ``factory(cancel)`` (an engine's work method: blocking,
not thread-safe) on a thread of its own and yields its events asynchronously. When the consumer
goes away (a client disconnected, a timeout) the cancel token is set at once, without awaiting,
so the engine stops at its next step; ``on_end`` runs on the worker thread once the generator has
finished, which is when the model is free for the next request. Worker threads are not daemons.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from core.cancel import CancelToken
from core.events import Event

_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def start(factory: Callable[[CancelToken], Iterator[Event]], cancel: CancelToken,
          on_end: Callable[[], None], name: str) -> AsyncIterator[Any]:
    """The events of ``factory(cancel)`` run on a new thread, as an async iterator. The thread
    starts now; ``on_end`` runs on it when the generator is over, whatever happened."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is gone (the server stopped): nobody listens
            cancel.cancel()

    def run() -> None:
        gen = None
        try:
            gen = factory(cancel)
            for event in gen:
                put(event)
        except BaseException as exc:  # handed to the consumer
            put(_Failed(exc))
        finally:
            if gen is not None:
                gen.close()
            put(_END)
            on_end()

    threading.Thread(target=run, name=f"serve-{name}", daemon=False).start()
    return _consume(queue, cancel)


async def _consume(queue: asyncio.Queue, cancel: CancelToken) -> AsyncIterator[Any]:
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        cancel.cancel()  # no-op after a normal end; otherwise the engine stops at its next step
