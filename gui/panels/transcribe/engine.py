"""The page's loaded model: one Transcriber, held by the shared ModelSession
(gui/widgets/model_session.py), so it is loaded in a job and swapped and closed on the GUI thread
only; file jobs receive it and never set it. This module holds the opener the session calls and
the file job."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.cancel import CancelToken
    from core.events import Event
    from core.transcribe import TranscribeOptions, Transcriber

Then = Callable[[Any], None]


def transcriber_opener(registry, opener=None) -> Callable[..., Iterator[Event]]:
    """``opener(model_id, device, cancel, options=(engine, device))`` over open_transcriber:
    the options that pick another model besides its id (the device is among them, so that a
    change of device preference loads again)."""

    def run(model_id: str, device: str, cancel: CancelToken, options: tuple[str, str]
            ) -> Iterator[Event]:
        from core.transcribe import open_transcriber

        engine, _device = options
        yield from (opener or open_transcriber)(registry, model_id, device, cancel, engine)

    return run


def file_job(transcriber: Transcriber, path: str, options: TranscribeOptions
             ) -> Callable[[CancelToken], Iterator[Event]]:
    return lambda cancel: transcriber.transcribe(path, options, cancel)
