"""Transcripts this app keeps: every finished transcript is written as JSON (segments, times,
words: ``Transcript.to_json``) into the data folder's ``transcripts`` folder, with its summary
when one was written. These files are what Chat attaches and what a ``[mm:ss]`` link names."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import BadInput

if TYPE_CHECKING:
    from core.transcribe.types import Transcript

FOLDER = "transcripts"


@dataclass(frozen=True)
class SavedSummary:
    text: str
    model: str = ""  # the chat model that wrote it
    parts: int = 1  # answers on the first pass (core.chat.summarize.Summary)
    passes: int = 1


def saved_path(root: str | Path, audio: str | Path) -> Path:
    """Where the transcript of ``audio`` is kept under the data folder ``root``: its stem and a
    short hash of its full path (two files of one name in two folders do not collide)."""
    audio = Path(audio)
    try:
        key = str(audio.resolve())
    except OSError:
        key = str(audio)
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return Path(root) / FOLDER / f"{audio.stem or 'transcript'}-{digest}.json"


def kept_stem(path: str | Path) -> str | None:
    """The recording's stem when ``path`` is a transcript kept by :func:`saved_path` (its name
    and folder have that shape), else None."""
    path = Path(path)
    kept = re.fullmatch(r"(.+)-[0-9a-f]{10}\.json", path.name)
    return kept.group(1) if kept and path.parent.name == FOLDER else None


def save_transcript(path: str | Path, transcript: Transcript,
                    summary: SavedSummary | None = None) -> Path:
    """Write ``transcript`` (and its summary) to ``path`` atomically; returns the path."""
    from core.paths import atomic_write

    data = transcript.to_json()
    if summary is not None:
        data["summary"] = {"text": summary.text, "model": summary.model, "parts": summary.parts,
                           "passes": summary.passes}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def load_transcript(path: str | Path) -> tuple[Transcript, SavedSummary | None]:
    """A transcript JSON written by this app and its summary (None when it has none). BadInput
    for a file that is missing, unreadable or another kind of document."""
    from core.transcribe.types import Transcript

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BadInput(f"The transcript '{path}' is not there any more.",
                       hint="Transcribe the recording again.") from exc
    except (OSError, ValueError) as exc:
        raise BadInput(f"The transcript '{path}' cannot be read ({exc}).") from exc
    if not isinstance(data, dict):
        raise BadInput(f"'{path}' is not a transcript document.")
    transcript = Transcript.from_json(data)
    s = data.get("summary")
    summary = None
    if isinstance(s, dict) and isinstance(s.get("text"), str):
        summary = SavedSummary(str(s["text"]), str(s.get("model") or ""),
                               int(s.get("parts") or 1), int(s.get("passes") or 1))
    return transcript, summary
