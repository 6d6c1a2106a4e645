"""What every part of Transcribe shares: the request (TranscribeOptions), its events (Segment,
with Word timings), the result (Transcript), what a model resolves to, and the backend protocol.

Every default lives here once: the CLI and the page read it from these dataclasses and constants.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from core.cancel import CancelToken
from core.errors import BadInput
from core.events import Event

ENGINES = ("faster-whisper", "openai-whisper")
TASKS = ("transcribe", "translate")
DEFAULT_FASTER_MODEL = "whisper-base"  # the bundled multilingual CTranslate2 pack
DEFAULT_OPENAI_MODEL = "base"  # an openai-whisper name (downloaded by openai-whisper)
DEFAULT_MODELS = {"faster-whisper": DEFAULT_FASTER_MODEL, "openai-whisper": DEFAULT_OPENAI_MODEL}
# English speech transcribed (not translated) may use the smaller English-only model
ENGLISH_MODELS = {"faster-whisper": "whisper-tiny.en", "openai-whisper": "tiny.en"}
MAX_BEAM_SIZE = 20


def default_model(engine: str, language: str | None = None, task: str = "transcribe") -> str:
    """The model used when none is named: the small English-only model for English speech
    transcribed, the multilingual base for detection, any other language or translation."""
    if language == "en" and task == "transcribe":
        return ENGLISH_MODELS.get(engine, "")
    return DEFAULT_MODELS.get(engine, "")


def english_only(model: str | None) -> bool:
    """True for a Whisper model that knows English only, told by its name (tiny.en, base.en,
    Systran/faster-whisper-base.en, a folder or .pt so named)."""
    if not model:
        return False
    name = model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    name = name.removesuffix(".pt")
    return name.endswith(".en")


def check_language(model_name: str, multilingual: bool, language: str | None, task: str) -> None:
    """BadInput when an English-only model is asked to translate or to hear another language."""
    if multilingual:
        return
    if task == "translate":
        raise BadInput(f"'{model_name}' is an English-only model: it cannot translate.",
                       hint="Pick a multilingual model such as Whisper base (multilingual).")
    if language and language != "en":
        raise BadInput(f"'{model_name}' is an English-only model: it cannot transcribe "
                       f"'{language}' speech.",
                       hint="Pick a multilingual model such as Whisper base (multilingual), "
                            "or set the language to English or Detect.")


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


def model_key(engine: str, model: str | None, device: str, language: str | None = None,
              task: str = "transcribe") -> tuple[str, str, str]:
    """What identifies a loaded model: two requests with the same key can share it."""
    return (engine, model or default_model(engine, language, task),
            str(getattr(device, "value", device)))


@dataclass(frozen=True)
class TranscribeOptions:
    engine: str = ENGINES[0]
    model: str | None = None  # registry id / folder / Hub id (faster-whisper); name or .pt (openai)
    language: str | None = None  # None: detect
    task: str = TASKS[0]  # or "translate"
    beam_size: int = 5
    word_timestamps: bool = False
    vad_filter: bool = False
    initial_prompt: str | None = None
    hotwords: str | None = None  # custom vocabulary: names and terms to favour (faster-whisper)
    batched: bool | None = None  # faster-whisper's batched pipeline; None: for long files
    device: str = "auto"  # a core.device.DevicePreference value

    def validate(self) -> TranscribeOptions:
        if self.engine not in ENGINES:
            raise BadInput(f"Unknown engine '{self.engine}'.", hint="Use faster-whisper or "
                                                                    "openai-whisper.")
        if self.task not in TASKS:
            raise BadInput(f"Unknown task '{self.task}'.", hint="Use transcribe or translate.")
        if not 1 <= self.beam_size <= MAX_BEAM_SIZE:
            raise BadInput(f"Beam size must be between 1 and {MAX_BEAM_SIZE}.")
        if self.hotwords and self.engine != "faster-whisper":
            raise BadInput("Custom vocabulary (hotwords) needs the faster-whisper engine.",
                           hint="Choose faster-whisper, or put the words in the initial prompt.")
        model = self.model_id
        if english_only(model):
            check_language(model, False, self.language, self.task)
        return self

    @property
    def model_id(self) -> str:
        """The model asked for, or the default for this language and task."""
        return self.model or default_model(self.engine, self.language, self.task)

    @property
    def model_key(self) -> tuple[str, str, str]:
        """The loaded model these options need (engine, model, device); decoding options such
        as the beam size or the language do not change it."""
        return model_key(self.engine, self.model_id, self.device)


@dataclass
class Transcript:
    path: str
    duration: float
    segments: list[Segment]
    language: str | None = None
    seconds: float = 0.0  # wall time of the transcription
    engine: str = ""
    model: str = ""
    language_probability: float | None = None  # of a detected language

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration (lower is faster)."""
        return self.seconds / self.duration if self.duration > 0 else 0.0

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def to_json(self) -> dict[str, Any]:
        duration, seconds = round(self.duration, 3), round(self.seconds, 3)
        # the RTF of the rounded figures: a document read back writes the same numbers again
        rtf = round(seconds / duration, 4) if duration > 0 else 0.0
        return {
            "path": self.path, "duration": duration, "language": self.language,
            "language_probability": (None if self.language_probability is None
                                     else round(self.language_probability, 4)),
            "engine": self.engine, "model": self.model, "seconds": seconds,
            "rtf": rtf, "text": self.text,
            "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text.strip(),
                          "words": [asdict(w) for w in s.words]} for s in self.segments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transcript:
        """The inverse of ``to_json`` (times as rounded there). BadInput for another document."""
        try:
            segments = [Segment(float(s["start"]), float(s["end"]), str(s["text"]),
                                tuple(Word(**w) for w in s.get("words") or ()))
                        for s in data["segments"]]
            return cls(str(data["path"]), float(data["duration"]), segments,
                       data.get("language"), float(data.get("seconds") or 0.0),
                       data.get("engine") or "", data.get("model") or "",
                       data.get("language_probability"))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"Not a transcript document ({exc.__class__.__name__}: {exc}).") from exc


@dataclass(frozen=True)
class ResolvedModel:
    """What a backend loads: ``ref`` is a CTranslate2 folder (faster-whisper), or a .pt file or
    an openai-whisper model name (openai-whisper); ``name`` is for people."""

    engine: str
    ref: str
    name: str


class Backend(Protocol):
    """What an engine provides: segments with progress, for audio already decoded to 16 kHz.
    ``transcribe`` yields Segment and Progress events, then Done(result=language) or
    Done(result=(language, probability)). ``multilingual`` is False for English-only models."""

    name: str
    multilingual: bool

    def transcribe(self, audio, options: TranscribeOptions, cancel: CancelToken
                   ) -> Iterator[Event]: ...

    def close(self, wait: bool = True) -> None: ...
