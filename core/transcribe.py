"""Transcription: one interface, two Whisper engines (faster-whisper and openai-whisper).

``transcribe_file(path, options, cancel, cache)`` decodes the file once (PyAV, through
faster-whisper's ``decode_audio``: wav, flac, mp3, m4a, ogg, webm, mp4...), then yields
Progress(done=processed audio seconds, total=duration), a Segment event per segment as it is
decoded, and Done(result=Transcript).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.cancel import CancelToken
from core.errors import BadInput
from core.events import Event

SAMPLE_RATE = 16_000
ENGINES = ("faster-whisper", "openai-whisper")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm", ".mp4", ".mkv",
                  ".aac", ".wma", ".mov")
DEFAULT_FASTER_MODEL = "whisper-tiny.en"
DEFAULT_OPENAI_MODEL = "tiny.en"


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment(Event):
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class TranscribeOptions:
    engine: str = "faster-whisper"
    model: str | None = None  # registry id / folder / Hub id (faster-whisper); name or .pt (openai)
    language: str | None = None  # None: detect
    task: str = "transcribe"  # or "translate"
    beam_size: int = 5
    word_timestamps: bool = False
    vad_filter: bool = False
    initial_prompt: str | None = None
    device: str = "auto"

    def validate(self) -> TranscribeOptions:
        if self.engine not in ENGINES:
            raise BadInput(f"Unknown engine '{self.engine}'.", hint="Use faster-whisper or "
                                                                    "openai-whisper.")
        if self.task not in ("transcribe", "translate"):
            raise BadInput(f"Unknown task '{self.task}'.", hint="Use transcribe or translate.")
        if not 1 <= self.beam_size <= 20:
            raise BadInput("Beam size must be between 1 and 20.")
        return self


@dataclass
class Transcript:
    path: str
    duration: float
    segments: list[Segment]
    language: str | None = None
    seconds: float = 0.0  # wall time of the transcription
    engine: str = ""
    model: str = ""

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration (lower is faster)."""
        return self.seconds / self.duration if self.duration > 0 else 0.0

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "duration": round(self.duration, 3), "language": self.language,
            "engine": self.engine, "model": self.model, "seconds": round(self.seconds, 3),
            "rtf": round(self.rtf, 4), "text": self.text,
            "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text.strip(),
                          "words": [asdict(w) for w in s.words]} for s in self.segments],
        }


class Backend(Protocol):
    """What an engine provides: segments with progress, for audio already decoded to 16 kHz."""

    name: str

    def transcribe(self, audio, options: TranscribeOptions, cancel: CancelToken
                   ) -> Iterator[Event]: ...


@dataclass
class BackendCache:
    """Keeps the last loaded model between files (loading is the slow part)."""

    key: tuple | None = None
    backend: Any = None
    loads: int = 0
    extra: dict = field(default_factory=dict)


def decode(path: str | Path):
    """The file's audio as float32 mono at 16 kHz. BadInput for anything that is not audio."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"'{path.name}' is not there any more (deleted or moved?).")
    if path.is_dir():
        raise BadInput(f"'{path.name}' is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise BadInput(f"'{path.name}' is empty (0 bytes).")
    from faster_whisper.audio import decode_audio

    try:
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises its own error types for every kind of bad file
        raise BadInput(f"Cannot read '{path.name}' as audio: it is corrupt or not an audio or "
                       f"video file ({exc.__class__.__name__}).") from exc
    if audio.size == 0:
        raise BadInput(f"'{path.name}' has no audio in it.")
    return audio


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


def export(t: Transcript, fmt: str) -> str:
    if fmt not in FORMATS:
        raise BadInput(f"Unknown format '{fmt}'.", hint="Use txt, srt, vtt or json.")
    return FORMATS[fmt](t)


def export_path(t: Transcript, fmt: str, folder: str | Path) -> Path:
    """Write the transcript next to nothing else: ``folder/<audio stem>.<fmt>``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{Path(t.path).stem}.{fmt}"
    target.write_text(export(t, fmt), encoding="utf-8")
    return target


def now() -> float:
    return time.perf_counter()
