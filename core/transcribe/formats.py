"""Transcript exports: plain text, SubRip (.srt), WebVTT (.vtt) and JSON, and writing them."""
from __future__ import annotations

from pathlib import Path

from core.errors import BadInput
from core.transcribe.types import Transcript


def _fmt(t: float, sep: str) -> str:
    ms = int(round(max(t, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_txt(t: Transcript) -> str:
    return "\n".join(s.text.strip() for s in t.segments if s.text.strip()) + "\n"


def to_srt(t: Transcript) -> str:
    blocks = []
    for i, s in enumerate((s for s in t.segments if s.text.strip()), 1):
        blocks.append(f"{i}\n{_fmt(s.start, ',')} --> {_fmt(s.end, ',')}\n{s.text.strip()}\n")
    return "\n".join(blocks)


def to_vtt(t: Transcript) -> str:
    cues = [f"{_fmt(s.start, '.')} --> {_fmt(s.end, '.')}\n{s.text.strip()}\n"
            for s in t.segments if s.text.strip()]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_json_text(t: Transcript) -> str:
    import json

    return json.dumps(t.to_json(), indent=2, ensure_ascii=False) + "\n"


FORMATS = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "json": to_json_text}
DEFAULT_FORMAT = "txt"


def export(t: Transcript, fmt: str) -> str:
    if fmt not in FORMATS:
        raise BadInput(f"Unknown format '{fmt}'.", hint="Use txt, srt, vtt or json.")
    return FORMATS[fmt](t)


def write_export(t: Transcript, fmt: str, path: str | Path) -> Path:
    """Write the transcript as ``fmt`` to ``path`` (UTF-8); returns the path."""
    from core.paths import atomic_write

    return atomic_write(path, export(t, fmt))  # a crash or a full disk never leaves half a file


def export_path(t: Transcript, fmt: str, folder: str | Path) -> Path:
    """Write the transcript next to nothing else: ``folder/<audio stem>.<fmt>``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return write_export(t, fmt, folder / f"{Path(t.path).stem}.{fmt}")
