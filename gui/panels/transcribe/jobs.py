"""The page's small jobs: reading a file's audio for playback, writing an export, listing a
dropped folder. Each is a job factory (cancel token -> events ending with Done)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from core.events import Done

if TYPE_CHECKING:
    from core.cancel import CancelToken
    from core.events import Event
    from core.transcribe import Transcript

Factory = Callable[["CancelToken"], Iterator["Event"]]


def decode_job(path: str) -> Factory:
    def run(cancel):
        from core.transcribe import decode

        yield Done(result=decode(path))

    return run


def export_job(transcript: Transcript, fmt: str, path: str, subtitles=None) -> Factory:
    def run(cancel):
        from core.transcribe import write_export

        yield Done(result=write_export(transcript, fmt, path, subtitles))

    return run


def list_audio_job(folder: str) -> Factory:
    """Done(result=the folder's audio files, sorted); BadInput naming the folder when it has
    none or cannot be read (moved or deleted since it was chosen)."""

    def run(cancel):
        from core.errors import BadInput
        from core.transcribe import AUDIO_SUFFIXES

        name = Path(folder).name
        try:
            found = sorted(str(f) for f in Path(folder).iterdir()
                           if f.suffix.lower() in AUDIO_SUFFIXES)
        except OSError as exc:
            raise BadInput(f"The folder '{name}' cannot be read: "
                           f"{exc.strerror or exc}.") from exc
        if not found:
            raise BadInput(f"The folder '{name}' holds no audio or video files to transcribe.")
        yield Done(result=found)

    return run
