"""The page's loaded model: one Transcriber, held by the shared ModelSession
(gui/widgets/model_session.py), so it is loaded in a job and swapped and closed on the GUI thread
only; file jobs receive it and never set it. This module holds the opener the session calls and
the file job, which keeps the finished transcript as JSON in the data folder (kept.py)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.events import Done, Event

if TYPE_CHECKING:
    from core.cancel import CancelToken
    from core.transcribe import TranscribeOptions, Transcriber

Then = Callable[[Any], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kept(Event):
    """The file job wrote the transcript here (just before its Done)."""
    path: Path


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


def file_job(transcriber: Transcriber, path: str, options: TranscribeOptions,
             keep_at: Path | None = None) -> Callable[[CancelToken], Iterator[Event]]:
    """Transcribe ``path``; with ``keep_at``, the finished transcript is written there first
    (Kept says so). A transcript that cannot be written is still shown: Ask in Chat and Summarise
    write it again and say why when they cannot."""

    def run(cancel: CancelToken) -> Iterator[Event]:
        from core.errors import BadInput
        from core.transcribe import save_transcript

        events = transcriber.transcribe(path, options, cancel)
        try:
            for ev in events:
                if keep_at is not None and isinstance(ev, Done) and ev.result is not None:
                    try:
                        yield Kept(save_transcript(keep_at, ev.result))
                    except (BadInput, OSError) as exc:
                        log.warning("could not keep the transcript of %s: %s", path, exc)
                yield ev
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    return run
