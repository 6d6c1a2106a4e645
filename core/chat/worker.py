"""The chat engine's generation thread: one long-lived thread runs every ``generate`` call.

A fresh thread per reply would pay torch's per-thread start-up (its OpenMP team, kernel caches) on
the first token: about 80 ms of time-to-first-token on a 2-core CPU. The thread is not a daemon:
``close()`` ends it and waits for it. When nobody closes it, it ends by itself once its owner is
garbage-collected (the engine's finalizer calls ``stop()``) or once the main thread has finished
(the interpreter is exiting), so it never keeps a process alive.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from core.errors import ModelUnavailable

THREAD_NAME = "chat-generate"
IDLE_POLL_S = 0.2  # how often an idle thread looks whether the interpreter is exiting


class Task:
    """One call run on the thread: ``done`` is set when it has ended, ``error`` holds what it
    raised (None when it returned)."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn: Callable[[], None] | None = fn
        self.done = threading.Event()
        self.error: BaseException | None = None


def _serve(tasks: queue.SimpleQueue) -> None:
    """The thread's loop. It holds no reference to the engine between tasks."""
    main = threading.main_thread()
    while True:
        try:
            task = tasks.get(timeout=IDLE_POLL_S)
        except queue.Empty:
            if not main.is_alive():
                return
            continue
        if task is None:
            return
        try:
            task.fn()
        except BaseException as exc:  # handed to whoever waits on the task
            task.error = exc
        finally:
            task.fn = None  # the task's closure (and the model it holds) can go
            task.done.set()
            del task


class GenerationThread:
    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, fn: Callable[[], None]) -> Task:
        """Run ``fn`` on the thread (started on first use). ModelUnavailable once closed."""
        task = Task(fn)
        with self._guard:
            if self._closed:
                raise ModelUnavailable("This model was unloaded.", hint="Load it again.")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=_serve, args=(self._tasks,),
                                                name=THREAD_NAME, daemon=False)
                self._thread.start()
            self._tasks.put(task)
        return task

    def stop(self) -> None:
        """Ask the thread to end after the task it runs; do not wait."""
        with self._guard:
            self._closed = True
            if self._thread is not None:
                self._tasks.put(None)

    def close(self, timeout: float | None = None) -> bool:
        """Stop the thread and wait for it; True when it has ended."""
        self.stop()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()
