"""Cooperative cancellation shared by every long job."""
from __future__ import annotations

import threading

from core.errors import Cancelled


class CancelToken:
    """Set from any thread; checked by the worker between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True when cancelled meanwhile."""
        return self._event.wait(timeout)
