"""Transcript exports: plain text, SubRip (.srt), WebVTT (.vtt) and JSON, and writing them.
Subtitles are cut into readable cues (``core.transcribe.subtitles``) by SubtitleOptions."""
from __future__ import annotations

from pathlib import Path

from core.errors import BadInput
from core.transcribe.subtitles import SubtitleOptions, cues
from core.transcribe.types import Transcript


def _fmt(t: float, sep: str) -> str:
    ms = int(round(max(t, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_txt(t: Transcript, subtitles: SubtitleOptions | None = None) -> str:
    return "\n".join(s.text.strip() for s in t.segments if s.text.strip()) + "\n"


def to_srt(t: Transcript, subtitles: SubtitleOptions | None = None) -> str:
    blocks = [f"{i}\n{_fmt(c.start, ',')} --> {_fmt(c.end, ',')}\n{c.text}\n"
              for i, c in enumerate(cues(t, subtitles), 1)]
    return "\n".join(blocks)


def to_vtt(t: Transcript, subtitles: SubtitleOptions | None = None) -> str:
    blocks = [f"{_fmt(c.start, '.')} --> {_fmt(c.end, '.')}\n{c.text}\n"
              for c in cues(t, subtitles)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_json_text(t: Transcript, subtitles: SubtitleOptions | None = None) -> str:
    import json

    return json.dumps(t.to_json(), indent=2, ensure_ascii=False) + "\n"


FORMATS = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "json": to_json_text}
DEFAULT_FORMAT = "txt"


def export(t: Transcript, fmt: str, subtitles: SubtitleOptions | None = None) -> str:
    """The transcript as ``fmt``; ``subtitles`` sets how srt and vtt cues are cut."""
    if fmt not in FORMATS:
        raise BadInput(f"Unknown format '{fmt}'.", hint="Use txt, srt, vtt or json.")
    return FORMATS[fmt](t, subtitles)


def write_export(t: Transcript, fmt: str, path: str | Path,
                 subtitles: SubtitleOptions | None = None) -> Path:
    """Write the transcript as ``fmt`` to ``path`` (UTF-8); returns the path."""
    from core.paths import atomic_write

    # a crash or a full disk never leaves half a file
    return atomic_write(path, export(t, fmt, subtitles))


def export_path(t: Transcript, fmt: str, folder: str | Path,
                subtitles: SubtitleOptions | None = None) -> Path:
    """Write the transcript next to nothing else: ``folder/<audio stem>.<fmt>``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return write_export(t, fmt, folder / f"{Path(t.path).stem}.{fmt}", subtitles)
