"""A transcript as fine-tuning data: its text written as a raw-text corpus (one segment a line,
the causal-lm task's .txt format) into the data folder's ``training-data`` folder."""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import BadInput

if TYPE_CHECKING:
    from core.transcribe.types import Transcript

FOLDER = "training-data"


def corpus_text(transcript: Transcript) -> str:
    """The transcript's text, one segment a line (no times)."""
    lines = [s.text.strip() for s in transcript.segments if s.text.strip()]
    if not lines:
        raise BadInput("The transcript is empty: there is no text to train on.")
    return "\n".join(lines) + "\n"


def write_corpus(transcript: Transcript, root: str | Path, name: str) -> Path:
    """Write the transcript's text to ``root/training-data/<name>.txt`` atomically and return the
    path. A file of that name holding another text is kept: the new one gets ``-2``, ``-3``…"""
    from core.paths import atomic_write

    text = corpus_text(transcript)
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "-", name).strip("-.") or "transcript"
    path, n = folder / f"{stem}.txt", 1
    while path.exists():
        try:
            if path.read_text(encoding="utf-8") == text:
                break  # the same text again: write it over itself
        except (OSError, UnicodeDecodeError):
            pass
        n += 1
        path = folder / f"{stem}-{n}.txt"
    return atomic_write(path, text)
