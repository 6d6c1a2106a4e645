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
from core.events import Done, Event, Progress

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
        duration, seconds = round(self.duration, 3), round(self.seconds, 3)
        # the RTF of the rounded figures: a document read back writes the same numbers again
        rtf = round(seconds / duration, 4) if duration > 0 else 0.0
        return {
            "path": self.path, "duration": duration, "language": self.language,
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
                       data.get("engine") or "", data.get("model") or "")
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"Not a transcript document ({exc.__class__.__name__}: {exc}).") from exc


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

    def close(self, wait: bool = True) -> None:
        """Release the loaded model: ends an openai-whisper child process, and lets the
        faster-whisper thread finish its window (waiting for it unless ``wait`` is False)."""
        backend, self.backend, self.key = self.backend, None, None
        if backend is not None and hasattr(backend, "close"):
            backend.close(wait=wait)


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


# ---- engines --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedModel:
    """What a backend loads: ``ref`` is a CTranslate2 folder (faster-whisper), or a .pt file or
    an openai-whisper model name (openai-whisper); ``name`` is for people."""

    engine: str
    ref: str
    name: str


class _Runner:
    """One long-lived thread per loaded faster-whisper model runs every transcription.

    CTranslate2 cannot be interrupted inside a 30 s window, so the window runs on this thread
    while the consuming generator polls for results and the cancel token: a cancel takes effect
    at once for the caller, and the runner stops after the window in flight. A fresh thread per
    file would also pay for a new OpenMP thread team each time.

    It is a one-worker ThreadPoolExecutor: its thread is not a daemon and the interpreter joins it
    at exit after the window in flight (a daemon thread still inside CTranslate2 when Python
    finalizes aborts the process with "terminate called without an active exception").
    """

    def __init__(self, name: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._last = None

    def submit(self, fn):
        """Queue ``fn`` (it reports its own errors); returns its Future."""
        self._last = self._pool.submit(fn)
        return self._last

    def wait_idle(self, timeout: float | None = None) -> bool:
        from concurrent.futures import wait

        return self._last is None or not wait([self._last], timeout).not_done

    def close(self, timeout: float = 10.0) -> None:
        """Let the thread finish the window in flight, then end (waits up to ``timeout`` s;
        0: do not wait)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if timeout > 0:
            self.wait_idle(timeout)


class _StopWindow(Exception):
    """Raised inside faster-whisper at the start of a window once the job is stopped."""


def _segment_from_faster(seg) -> Segment:
    words = tuple(Word(float(w.start), float(w.end), w.word, float(w.probability))
                  for w in (seg.words or ()))
    return Segment(float(seg.start), float(seg.end), seg.text.strip(), words)


class FasterWhisperBackend:
    """faster-whisper (CTranslate2): int8 on CPU, float16 on CUDA."""

    name = "faster-whisper"

    def __init__(self, model, folder: str, device: str, compute_type: str) -> None:
        self.model = model
        self.folder = folder
        self.device = device
        self.compute_type = compute_type
        self._runner = _Runner("faster-whisper")
        self._job_stop = None  # the running job's stop Event (read on the runner thread)
        self._hook_windows()

    def _hook_windows(self) -> None:
        """faster-whisper encodes each 30 s window with ``self.encode`` before decoding it:
        wrapping that method of this one model object lets a stopped job end at the next window
        even where a window yields no segment (silence, music), instead of at the next segment."""
        encode = self.model.encode

        def encode_unless_stopped(features):
            stop = self._job_stop
            if stop is not None and stop.is_set():
                raise _StopWindow()
            return encode(features)

        self.model.encode = encode_unless_stopped

    @staticmethod
    def compute_type_for(device: str) -> str:
        return "float16" if device == "cuda" else "int8"

    @classmethod
    def load(cls, folder: str, *, device: str = "cpu", compute_type: str | None = None,
             cpu_threads: int | None = None, name: str | None = None,
             cancel: CancelToken | None = None) -> Iterator[Event]:
        """Yield Progress, then Done(result=FasterWhisperBackend)."""
        import os

        from core.errors import ModelUnavailable, OutOfMemory

        cancel = cancel or CancelToken()
        name = name or Path(folder).name
        compute_type = compute_type or cls.compute_type_for(device)
        yield Progress("Loading model", 0, None, name)
        cancel.raise_if_cancelled()
        if not (Path(folder) / "model.bin").is_file():
            raise ModelUnavailable(f"'{name}' is not a CTranslate2 Whisper model folder (no "
                                   "model.bin).", hint="faster-whisper needs a CTranslate2 "
                                   "folder such as the bundled whisper-tiny.en.")
        started = now()
        from faster_whisper import WhisperModel

        threads = (os.cpu_count() or 0) if cpu_threads is None else cpu_threads
        try:
            model = WhisperModel(folder, device=device, compute_type=compute_type,
                                 cpu_threads=threads)
        except MemoryError as exc:
            raise OutOfMemory(f"Not enough memory to load '{name}'.") from exc
        except (RuntimeError, ValueError, OSError) as exc:
            if "out of memory" in str(exc).lower():
                raise OutOfMemory(f"Not enough memory to load '{name}'.") from exc
            raise ModelUnavailable(f"faster-whisper cannot load '{name}': {exc}") from exc
        cancel.raise_if_cancelled()
        yield Progress("Loading model", 1, 1, name)
        yield Done(result=cls(model, folder, device, compute_type),
                   summary=f"Loaded {name} in {now() - started:.1f} s on {device.upper()}.")

    def close(self, wait: bool = True) -> None:
        self._runner.close(10.0 if wait else 0.0)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the last transcription has stopped on the runner thread (after a cancel
        it finishes the 30 s window in flight). True when idle."""
        return self._runner.wait_idle(timeout)

    def transcribe(self, audio, options: TranscribeOptions, cancel: CancelToken
                   ) -> Iterator[Event]:
        """Segment and Progress events as windows are decoded, then Done(result=language)."""
        import queue
        import threading

        duration = len(audio) / SAMPLE_RATE
        results: queue.Queue = queue.Queue()
        stop = threading.Event()
        kwargs = dict(language=options.language, task=options.task, beam_size=options.beam_size,
                      word_timestamps=options.word_timestamps, vad_filter=options.vad_filter,
                      initial_prompt=options.initial_prompt or None)

        def work() -> None:
            if stop.is_set():  # cancelled before this job reached the runner
                results.put(("end", None))
                return
            self._job_stop = stop
            try:
                segments, info = self.model.transcribe(audio, **kwargs)
                results.put(("info", info.language))
                for seg in segments:
                    results.put(("segment", seg))
                    if stop.is_set():  # the next window is never started
                        segments.close()
                        break
                results.put(("end", None))
            except _StopWindow:
                results.put(("end", None))
            except BaseException as exc:  # re-raised by the consuming generator
                results.put(("error", exc))
            finally:
                self._job_stop = None

        self._runner.submit(work)
        language = options.language
        try:
            while True:
                try:
                    kind, value = results.get(timeout=0.1)
                except queue.Empty:
                    cancel.raise_if_cancelled()
                    continue
                cancel.raise_if_cancelled()
                if kind == "info":
                    language = value
                elif kind == "segment":
                    seg = _segment_from_faster(value)
                    yield seg
                    yield Progress("Transcribing", min(seg.end, duration), duration)
                elif kind == "error":
                    raise _typed_engine_error(value, self.name) from value
                else:
                    break
        finally:  # cancelled, failed, finished, or the consumer left: the runner stops
            stop.set()
        yield Done(result=language)


def _typed_engine_error(exc: BaseException, engine: str) -> Exception:
    from core.errors import OutOfMemory, WorkbenchError

    if isinstance(exc, WorkbenchError):
        return exc
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return OutOfMemory(f"{engine} ran out of memory while transcribing.",
                           hint="Pick a smaller model or free some memory.")
    return WorkbenchError(f"{engine} failed while transcribing: {exc.__class__.__name__}: {text}")


# ---- openai-whisper, in a terminable child process -----------------------------------------------
OPENAI_OFFLINE_HINT = ("Connect to the internet once (the model is then cached in "
                       "~/.cache/whisper), pick a local .pt checkpoint (Models ▸ Add file…), "
                       "or use the faster-whisper engine with the bundled tiny.en.")


def _openai_cache_dir() -> Path:
    import os

    default = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(os.getenv("XDG_CACHE_HOME", default)) / "whisper"


def _child_error(exc: BaseException, stage: str, model_ref: str) -> tuple[str, str, str]:
    """(error class name in core.errors, message, hint) for an exception in the child."""
    import urllib.error

    from core.errors import WorkbenchError

    label = Path(model_ref).name if model_ref.endswith(".pt") else model_ref
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, WorkbenchError):
        return exc.__class__.__name__, exc.message, exc.hint
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return ("OutOfMemory", f"openai-whisper ran out of memory ({stage} '{label}').",
                "Pick a smaller model or free some memory.")
    if stage == "loading":
        if isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError, OSError)) and \
                not model_ref.endswith(".pt") and not isinstance(exc, FileNotFoundError):
            return ("HubUnreachable", f"openai-whisper could not download '{label}': it needs "
                    f"the internet, or a local .pt file ({exc.__class__.__name__}: {text}).",
                    OPENAI_OFFLINE_HINT)
        if isinstance(exc, RuntimeError) and "not found; available models" in text:
            return ("ModelUnavailable", f"openai-whisper has no model called '{label}'.",
                    "Use a name such as tiny.en, base.en, small or turbo, or a .pt file.")
        if model_ref.endswith(".pt"):
            return ("BadInput", f"'{label}' is not a usable openai-whisper checkpoint "
                    f"({exc.__class__.__name__}: {text}).", "")
        return "ModelUnavailable", f"openai-whisper cannot load '{label}': {text}", ""
    return ("WorkbenchError", f"openai-whisper failed while transcribing: "
            f"{exc.__class__.__name__}: {text}", "")


def _openai_segment(s: dict) -> tuple:
    words = tuple((float(w["start"]), float(w["end"]), w["word"], float(w.get("probability", 0)))
                  for w in s.get("words") or ())
    return float(s["start"]), float(s["end"]), str(s["text"]), words


def _openai_child(requests, replies, model_ref: str, device: str) -> None:
    """Entry point of the openai-whisper child process (spawn imports it by name).

    Loads the model once, then serves transcription jobs from ``requests`` until it gets None
    (or the parent terminates it on cancel). Replies, all plain tuples:
    ("download", done, total), ("ready", None), ("progress", job, frames, total_frames, segments),
    ("result", job, {"language", "segments"}), ("error", job, class name, message, hint).
    """
    import importlib
    import signal
    import sys
    import warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    warnings.simplefilter("ignore")  # FP16/CPU notices and the like: the parent reports
    try:
        import whisper

        class _DownloadBar:  # whisper._download's tqdm: progress to the parent, 10 a second
            def __init__(self, total=None, **_kwargs):
                self.total, self.n, self.last = total, 0, 0.0

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                replies.put(("download", self.n, self.total))
                return False

            def update(self, n=1):
                self.n += n
                if now() - self.last >= 0.1:
                    self.last = now()
                    replies.put(("download", self.n, self.total))

        whisper.tqdm = _DownloadBar
        model = whisper.load_model(model_ref, device=device)
    except BaseException as exc:
        replies.put(("error", None, *_child_error(exc, "loading", model_ref)))
        return
    replies.put(("ready", None))
    transcribe_module = importlib.import_module("whisper.transcribe")
    while True:
        job = requests.get()
        if job is None:
            return
        job_id, audio, kwargs = job

        class _Bar:  # whisper.transcribe's tqdm: one update per 30 s window
            def __init__(self, total=None, **_kwargs):
                self.total, self.n, self.sent = total, 0, 0

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def update(self, n=1, _job=job_id):
                self.n += n
                # The window's segments are already in transcribe()'s list: stream them.
                found = sys._getframe(1).f_locals.get("all_segments")
                new = []
                if isinstance(found, list):
                    new = [_openai_segment(s) for s in found[self.sent:]]
                    self.sent = len(found)
                replies.put(("progress", _job, self.n, self.total, new))

        transcribe_module.tqdm = type("tqdm_module", (), {"tqdm": _Bar})
        try:
            result = model.transcribe(audio, **kwargs)
            replies.put(("result", job_id, {
                "language": result.get("language"),
                "segments": [_openai_segment(s) for s in result["segments"]]}))
        except BaseException as exc:
            replies.put(("error", job_id, *_child_error(exc, "transcribing", model_ref)))


class OpenAIWhisperBackend:
    """openai-whisper (PyTorch) in a "spawn" child process that loads the model once and can be
    terminated at any moment: cancel ends it (the next run starts and loads a fresh one)."""

    name = "openai-whisper"
    HOP_SECONDS = 0.01  # one mel frame

    def __init__(self, process, requests, replies, model_ref: str, device: str) -> None:
        self._process = process
        self._requests = requests
        self._replies = replies
        self.model_ref = model_ref
        self.device = device
        self._jobs = 0

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def process(self):
        """The child process (a ``multiprocessing`` Process), None once closed."""
        return self._process

    @classmethod
    def load(cls, model_ref: str, *, device: str = "cpu", name: str | None = None,
             cancel: CancelToken | None = None) -> Iterator[Event]:
        """Start the child and wait until it has loaded the model: Progress, Done(backend)."""
        import multiprocessing

        cancel = cancel or CancelToken()
        name = name or model_ref
        ctx = multiprocessing.get_context("spawn")
        requests, replies = ctx.Queue(), ctx.Queue()
        process = ctx.Process(target=_openai_child, args=(requests, replies, model_ref, device),
                              name="openai-whisper", daemon=True)
        started = now()
        yield Progress("Loading model", 0, None, name)
        process.start()
        backend = cls(process, requests, replies, model_ref, device)
        try:
            for msg in backend._messages(cancel):
                if msg[0] == "download":
                    yield Progress("Downloading", msg[1], msg[2], name)
                elif msg[0] == "ready":
                    break
                elif msg[0] == "error":
                    backend._raise(msg)
        except BaseException:
            backend.close()
            raise
        yield Progress("Loading model", 1, 1, name)
        yield Done(result=backend,
                   summary=f"Loaded {name} in {now() - started:.1f} s on {device.upper()}.")

    def _messages(self, cancel: CancelToken) -> Iterator[tuple]:
        """The child's replies; Cancelled (after terminating it) when the token is set."""
        import queue

        from core.errors import Cancelled, ModelUnavailable, OutOfMemory

        while True:
            try:
                msg = self._replies.get(timeout=0.1)
            except queue.Empty:
                if cancel.cancelled:
                    self.close(terminate=True)
                    raise Cancelled() from None
                if not self.alive:
                    try:  # its last words may still be in the pipe
                        msg = self._replies.get(timeout=0.5)
                    except queue.Empty:
                        code = None if self._process is None else self._process.exitcode
                        self.close(terminate=True)
                        if code in (-9, 137):
                            raise OutOfMemory("The openai-whisper process was killed (out of "
                                              "memory?).") from None
                        raise ModelUnavailable("The openai-whisper process stopped unexpectedly "
                                               f"(exit code {code}).") from None
                else:
                    continue
            if cancel.cancelled:
                self.close(terminate=True)
                raise Cancelled()
            yield msg

    def _raise(self, msg: tuple) -> None:
        from core import errors

        _kind, _job, cls_name, message, hint = msg
        cls = getattr(errors, cls_name, errors.WorkbenchError)
        if not (isinstance(cls, type) and issubclass(cls, errors.WorkbenchError)):
            cls = errors.WorkbenchError
        if cls is errors.Cancelled:
            raise errors.Cancelled(message)
        raise cls(message, hint=hint)

    def close(self, terminate: bool = False, wait: bool = True) -> None:
        """End the child: politely (it exits once idle), or at once with ``terminate`` (or
        ``wait`` False)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.is_alive() and not terminate and wait:
            try:
                self._requests.put(None)
                process.join(5)
            except (OSError, ValueError):
                pass
        if process.is_alive():
            process.terminate()
            process.join(2)
        if process.is_alive():
            process.kill()
            process.join(2)
        for q in (self._requests, self._replies):
            q.cancel_join_thread()  # never block on a pipe the dead child will not read
            q.close()

    def transcribe(self, audio, options: TranscribeOptions, cancel: CancelToken
                   ) -> Iterator[Event]:
        from core.errors import ModelUnavailable

        if not self.alive:
            raise ModelUnavailable("The openai-whisper process is not running.",
                                   hint="Start the transcription again.")
        duration = len(audio) / SAMPLE_RATE
        kwargs: dict[str, Any] = dict(
            language=options.language, task=options.task,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt or None,
            fp16=self.device.startswith("cuda"), verbose=None)
        if options.beam_size > 1:
            kwargs["beam_size"] = options.beam_size  # used at temperature 0 only (fallbacks
            # to higher temperatures sample instead, as openai-whisper does by design)
        self._jobs += 1
        job = self._jobs
        self._requests.put((job, audio, kwargs))
        sent = 0
        try:
            for msg in self._messages(cancel):
                if msg[0] == "error":
                    self._raise(msg)
                if msg[1] != job:
                    continue
                if msg[0] == "progress":
                    _kind, _job, frames, _total, new = msg
                    for start, end, text, words in new:
                        sent += 1
                        yield Segment(start, end, text.strip(), tuple(Word(*w) for w in words))
                    yield Progress("Transcribing", min(frames * self.HOP_SECONDS, duration),
                                   duration)
                elif msg[0] == "result":
                    data = msg[2]
                    for start, end, text, words in data["segments"][sent:]:
                        yield Segment(start, end, text.strip(), tuple(Word(*w) for w in words))
                    yield Done(result=data.get("language"))
                    return
        except GeneratorExit:  # the consumer left mid-file: the child would go on working
            self.close(terminate=True)
            raise


# ---- resolution, caching, the one entry point ------------------------------------------------
def resolve_model(options: TranscribeOptions, registry=None, cancel: CancelToken | None = None
                  ) -> Iterator[Event]:
    """Find what to load for ``options``: Progress while a Hub model downloads (faster-whisper),
    then Done(result=ResolvedModel). Typed errors for a model of the wrong kind."""
    cancel = cancel or CancelToken()
    if options.engine == "faster-whisper":
        yield from _resolve_faster(options.model or DEFAULT_FASTER_MODEL, registry, cancel)
    else:
        yield Done(result=_resolve_openai(options.model or DEFAULT_OPENAI_MODEL, registry))


def _registry(registry):
    if registry is None:
        from core.models.registry import Registry

        registry = Registry()
    return registry


def _resolve_faster(model: str, registry, cancel: CancelToken) -> Iterator[Event]:
    from core.models.convert import prepared
    from core.models.registry import Format, Task

    registry = _registry(registry)
    entry = registry.get(model, task=Task.SPEECH_RECOGNITION)
    if entry.task is not Task.SPEECH_RECOGNITION:
        raise BadInput(f"'{entry.name}' is a {entry.task.value} model, not a speech model.",
                       hint="Pick a Whisper model.")
    if entry.format is Format.WHISPER_PT:
        raise BadInput(f"'{entry.name}' is an openai-whisper checkpoint.",
                       hint="Choose the openai-whisper engine for it.")
    ready = yield from prepared(registry, entry, cancel)
    if ready.format is not Format.CT2:
        raise BadInput(f"'{entry.name}' is not a CTranslate2 model, which faster-whisper needs.",
                       hint="Pick a faster-whisper model (e.g. Systran/faster-whisper-base.en), "
                            "or convert it with ct2-transformers-converter.")
    yield Done(result=ResolvedModel("faster-whisper", str(ready.load_path), entry.name))


def _resolve_openai(model: str, registry) -> ResolvedModel:
    import os

    from core.errors import HubUnreachable, ModelUnavailable
    from core.models.registry import Format, Source

    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".pt":
            raise BadInput(f"'{path.name}' is not an openai-whisper checkpoint (.pt).")
        return ResolvedModel("openai-whisper", str(path.resolve()), path.name)
    if path.exists():
        raise BadInput(f"'{path.name}' is a folder: openai-whisper needs a model name or a .pt "
                       "file.", hint="For a CTranslate2 folder, choose the faster-whisper engine.")
    if os.sep in model or model.endswith(".pt") or model.startswith(("~", ".")):
        raise BadInput(f"'{model}' does not exist.")
    try:
        entry = _registry(registry).get(model)
    except ModelUnavailable:
        entry = None
    if entry is not None and entry.source is not Source.HUB:
        if entry.format is not Format.WHISPER_PT or not entry.load_path:
            raise BadInput(f"'{entry.name}' is not an openai-whisper checkpoint.",
                           hint="Choose the faster-whisper engine for it, or pick a .pt file.")
        return ResolvedModel("openai-whisper", str(entry.load_path), entry.name)
    if entry is not None:  # a Hub id: openai-whisper downloads its own names only
        raise BadInput(f"openai-whisper cannot use the Hub model '{model}'.",
                       hint="Give an openai-whisper name (tiny.en, base, small…) or a .pt file.")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline and not (_openai_cache_dir() / f"{model}.pt").is_file():
        raise HubUnreachable(f"openai-whisper needs the internet to download '{model}' "
                             "(offline mode is on), or a local .pt file.",
                             hint=OPENAI_OFFLINE_HINT)
    return ResolvedModel("openai-whisper", model, model)


def _close_backend(backend) -> None:
    close = getattr(backend, "close", None)
    if close is not None:
        close()


def transcribe_file(path: str | Path, options: TranscribeOptions, cancel: CancelToken,
                    cache: BackendCache | None = None, registry=None) -> Iterator[Event]:
    """Decode ``path``, load (or reuse) the engine, and transcribe.

    Yields Progress("Loading model") while a model loads, Progress("Transcribing", done=audio
    seconds processed, total=duration) and a Segment per segment, then Done(result=Transcript).
    ``Transcript.seconds`` is the wall time of decoding + transcribing (not the model load).
    """
    from core.device import choose_device

    options = options.validate()
    own_cache = cache is None
    cache = cache if cache is not None else BackendCache()
    try:
        started = now()
        audio = decode(path)
        decode_seconds = now() - started
        duration = len(audio) / SAMPLE_RATE
        cancel.raise_if_cancelled()

        device = choose_device(options.device).kind
        resolved: ResolvedModel | None = None
        for ev in resolve_model(options, registry, cancel):
            if isinstance(ev, Done):
                resolved = ev.result
            else:
                yield ev
        assert resolved is not None
        if options.engine == "faster-whisper":
            key = (options.engine, resolved.ref, device,
                   FasterWhisperBackend.compute_type_for(device))
        else:
            key = (options.engine, resolved.ref, device, "float16" if device == "cuda"
                   else "float32")
        backend = cache.backend if cache.key == key else None
        if backend is not None and getattr(backend, "alive", True) is False:
            backend = None  # an openai-whisper child ended by a cancel
        if backend is None:
            if cache.backend is not None:
                _close_backend(cache.backend)
            cache.key, cache.backend = None, None
            if options.engine == "faster-whisper":
                loader = FasterWhisperBackend.load(resolved.ref, device=device,
                                                   name=resolved.name, cancel=cancel)
            else:
                loader = OpenAIWhisperBackend.load(
                    resolved.ref, device="cuda" if device == "cuda" else "cpu",
                    name=resolved.name, cancel=cancel)
            for ev in loader:
                if isinstance(ev, Done):
                    backend = ev.result
                else:
                    yield ev
            cache.key, cache.backend = key, backend
            cache.loads += 1
        cancel.raise_if_cancelled()

        name = Path(path).name
        yield Progress("Transcribing", 0.0, duration, name)
        started = now()
        segments: list[Segment] = []
        language = options.language
        done = 0.0
        for ev in backend.transcribe(audio, options, cancel):
            if isinstance(ev, Segment):
                segments.append(ev)
                yield ev
            elif isinstance(ev, Done):
                language = ev.result or language
            elif isinstance(ev, Progress):
                done = ev.done
                yield Progress(ev.stage, ev.done, ev.total, name)
            else:
                yield ev
        seconds = decode_seconds + (now() - started)
        if done < duration:
            yield Progress("Transcribing", duration, duration, name)
        transcript = Transcript(str(path), duration, segments, language, seconds,
                                options.engine, resolved.name)
        yield Done(result=transcript,
                   summary=f"{name}: {duration:.1f} s audio in {seconds:.1f} s, "
                           f"RTF {transcript.rtf:.3f}")
    finally:
        if own_cache:  # after a cancel, return at once (the runner ends after its window)
            cache.close(wait=not cancel.cancelled)
