"""One request's work on a model: wait for the model's turn (within the request's deadline),
run the engine's work method on a worker thread (bridge.py), stop it when the deadline passes.

``await start(state, entry, work)`` returns a Job whose ``events`` the route consumes; the model's
turn ends when the worker has finished, whatever the route or the client did meanwhile.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from core.cancel import CancelToken
from core.errors import Cancelled
from core.events import Done, Event
from core.models.entry import ModelEntry
from core.server import bridge
from core.server.errors import TimedOut


@dataclass
class Job:
    events: AsyncIterator[Any]
    cancel: CancelToken
    timeout_s: float
    expired: list[bool] = field(default_factory=list)
    _timer: asyncio.TimerHandle | None = None

    @property
    def timed_out(self) -> bool:
        return bool(self.expired)

    def failure(self, exc: BaseException) -> BaseException:
        """What to answer for an exception the work raised: a timeout's own error when the
        deadline cancelled it."""
        if self.timed_out and isinstance(exc, Cancelled):
            return TimedOut(self.timeout_s)
        return exc

    def finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def deadline(state) -> float:
    return time.monotonic() + state.config.request_timeout_s


async def start(state, entry: ModelEntry, work: Callable[[Any, CancelToken], Iterator[Event]],
                until: float) -> Job:
    """Wait for ``entry``'s turn (TimedOut past ``until``), then run ``work(engine, cancel)``."""
    timeout_s = state.config.request_timeout_s
    try:
        lease = await asyncio.wait_for(state.pool.acquire(entry),
                                       max(0.001, until - time.monotonic()))
    except asyncio.TimeoutError:
        raise TimedOut(timeout_s) from None
    cancel = CancelToken()
    try:
        engine = lease.engine
        events = bridge.start(lambda c: work(engine, c), cancel, lease.release, entry.id)
    except BaseException:
        lease.release()
        raise
    job = Job(events, cancel, timeout_s)

    def expire() -> None:
        job.expired.append(True)
        cancel.cancel()

    job._timer = asyncio.get_running_loop().call_later(max(0.0, until - time.monotonic()), expire)
    return job


async def result(job: Job, on_event: Callable[[Event], None] | None = None) -> Any:
    """Consume a job to its end and return its Done's result (other events go to ``on_event``)."""
    value = None
    try:
        async with aclosing(job.events) as events:
            async for event in events:
                if isinstance(event, Done):
                    value = event.result
                elif on_event is not None:
                    on_event(event)
    except Exception as exc:
        failure = job.failure(exc)
        if failure is exc:
            raise
        raise failure from exc
    finally:
        job.finish()
    if job.timed_out:
        raise TimedOut(job.timeout_s)
    return value
