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


def transcriber_opener(registry, opener=None, tokenizers=None
                       ) -> Callable[..., Iterator[Event]]:
    """``opener(model_id, device, cancel, options=(engine, device))`` over open_transcriber:
    the options that pick another model besides its id (the device is among them, so that a
    change of device preference loads again). ``tokenizers``: the Whisper tokenizers the window
    parsed while idle (AppContext.whisper_tokenizers)."""

    def run(model_id: str, device: str, cancel: CancelToken, options: tuple[str, str]
            ) -> Iterator[Event]:
        from core.transcribe import open_transcriber

        engine, _device = options
        if opener is not None:
            yield from opener(registry, model_id, device, cancel, engine)
        else:
            yield from open_transcriber(registry, model_id, device, cancel, engine,
                                        tokenizers=tokenizers)

    return run


def idle_steps(ctx) -> list[tuple[str, Callable[[], object]]]:
    """What the page's first load can have done ahead, while the user is idle (gui.warmup): the
    tokenizer of the faster-whisper model the next file would use, parsed into
    ``ctx.whisper_tokenizers`` (core.transcribe.ahead). Read from the saved options, so that it
    needs no page."""
    from core.transcribe import TranscribeOptions, default_model
    from core.transcribe.ahead import prepare
    from gui.panels.transcribe.options import AUTO

    s = ctx.settings
    engine = s.get("transcribe/engine", "") or TranscribeOptions().engine
    if engine != "faster-whisper":
        return []
    model = s.get("transcribe/model", "") or ""
    if not model or model.startswith(AUTO):
        model = default_model(engine, s.get("transcribe/language", "") or None)
    registry, store = ctx.registry, ctx.whisper_tokenizers
    return [(f"tokenizer of {model}", lambda: prepare(registry, model, store))]


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
