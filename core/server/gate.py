"""The queue in front of one loaded model: requests take turns in arrival order, a bounded number
wait, and one more is answered 429. Used on the server's event loop only; ``release`` may be
called from any thread through ``release_soon``."""
from __future__ import annotations

import asyncio
from collections import deque

from core.server.errors import Busy


class Gate:
    def __init__(self, name: str, queue_size: int, retry_after_s: int) -> None:
        self.name = name
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self.busy = False
        self._waiters: deque[asyncio.Future] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    @property
    def idle(self) -> bool:
        return not self.busy and not self.waiting

    async def acquire(self) -> None:
        """Wait for this model's turn (first come, first served); Busy when the queue is full."""
        self._loop = asyncio.get_running_loop()
        if not self.busy and not self.waiting:
            self.busy = True
            return
        if self.waiting >= self.queue_size:
            raise Busy(self.name, self.waiting, self.retry_after_s)
        future = self._loop.create_future()
        self._waiters.append(future)
        try:
            await future
        except BaseException:  # cancelled while waiting (a client gone, a timeout)
            if future.done() and not future.cancelled():
                self.release()  # the turn had just been handed over: pass it on
            else:
                future.cancel()
            raise
        finally:
            try:
                self._waiters.remove(future)
            except ValueError:
                pass

    def release(self) -> None:
        """End the current turn: the next waiter gets it, or the model is idle. Loop thread."""
        for future in self._waiters:
            if not future.done():
                future.set_result(None)  # busy stays True: the turn passes straight on
                return
        self.busy = False

    def release_soon(self) -> None:
        """``release`` from any thread (a worker that has just freed the engine)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self.busy = False
            return
        try:
            loop.call_soon_threadsafe(self.release)
        except RuntimeError:  # the loop has stopped: nobody waits any more
            self.busy = False
