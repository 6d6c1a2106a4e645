"""The page's loaded model: one Transcriber, held and swapped on the GUI thread only.

A file job gets the Transcriber when it serves the file's options; otherwise a load job opens
one and hands it back through its Done event, and the page keeps it here for the next files.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.cancel import CancelToken
    from core.events import Event
    from core.transcribe import TranscribeOptions, Transcriber


def load_job(registry, options: TranscribeOptions, opener=None
             ) -> Callable[[CancelToken], Iterator[Event]]:
    """A job factory that validates ``options`` and opens the model they need."""

    def run(cancel: CancelToken) -> Iterator[Event]:
        from core.transcribe import open_transcriber

        o = options.validate()
        yield from (opener or open_transcriber)(registry, o.model, o.device, cancel, o.engine)

    return run


def file_job(transcriber: Transcriber, path: str, options: TranscribeOptions
             ) -> Callable[[CancelToken], Iterator[Event]]:
    return lambda cancel: transcriber.transcribe(path, options, cancel)


class ModelSlot:
    """Holds the page's Transcriber. GUI thread only: jobs get it, never set it."""

    def __init__(self) -> None:
        self.transcriber: Transcriber | None = None
        self.loads = 0  # models loaded since the page opened
        self.closed = False

    def serves(self, options: TranscribeOptions) -> bool:
        return self.transcriber is not None and self.transcriber.serves(options)

    def take(self, transcriber: Transcriber) -> None:
        """Keep a freshly loaded model (closing the one it replaces)."""
        if self.closed:  # it arrived after the page shut down
            transcriber.close(wait=False)
            return
        if transcriber is not self.transcriber:
            self.release()
        self.transcriber = transcriber
        self.loads += 1

    def release(self) -> None:
        """Free the model without waiting: a faster-whisper window in flight ends on its own
        thread; an openai-whisper child is ended."""
        transcriber, self.transcriber = self.transcriber, None
        if transcriber is not None:
            transcriber.close(wait=False)

    def shutdown(self) -> None:
        self.closed = True
        self.release()
