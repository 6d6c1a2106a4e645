"""Transcription service: resolving a model, the engine (Transcriber) and its opener, and
``transcribe_file`` for one-off use.

``open_transcriber(registry, model_id, device, cancel, engine=...)`` resolves the model (a
registry entry, downloading a Hub model when needed; for openai-whisper also a name or a .pt
file), loads the backend, yields Progress and ends with Done(result=Transcriber).
``Transcriber.transcribe(path, options, cancel)`` decodes the file (PyAV: wav, flac, mp3, m4a,
ogg, webm, mp4...) and yields Progress(done=processed audio seconds, total=duration), a Segment per
segment as it is decoded, and Done(result=Transcript). The Transcriber owns a lock: two jobs never
decode on one loaded model at once, whoever calls.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from core.cancel import CancelToken
from core.errors import BadInput
from core.events import Done, Event, Progress
from core.transcribe.audio import SAMPLE_RATE, decode
from core.transcribe.openai_child import OFFLINE_HINT, cache_dir
from core.transcribe.types import (
    DEFAULT_MODELS,
    ENGINES,
    Backend,
    ResolvedModel,
    Segment,
    TranscribeOptions,
    Transcript,
    check_language,
    model_key,
)

LOCK_POLL_S = 0.1


def _result(gen: Iterator[Event]) -> Generator[Event, None, Any]:
    """Relay a generator's events and return its Done's result: ``x = yield from _result(g)``."""
    result = None
    for ev in gen:
        if isinstance(ev, Done):
            result = ev.result
        else:
            yield ev
    return result


# ---- resolution ---------------------------------------------------------------------------------
def resolve_model(engine: str, model: str | None, registry=None,
                  cancel: CancelToken | None = None) -> Iterator[Event]:
    """Find what to load for ``model`` on ``engine``: Progress while a Hub model downloads
    (faster-whisper), then Done(result=ResolvedModel). Typed errors for a model of the wrong
    kind."""
    cancel = cancel or CancelToken()
    model = model or DEFAULT_MODELS[engine]  # callers pass TranscribeOptions.model_id
    if engine == "faster-whisper":
        yield from _resolve_faster(model, registry, cancel)
    else:
        yield Done(result=_resolve_openai(model, registry))


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
    entry = yield from _result(registry.assemble(entry, cancel))  # a model split across packs
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
    if offline and not (cache_dir() / f"{model}.pt").is_file():
        raise HubUnreachable(f"openai-whisper needs the internet to download '{model}' "
                             "(offline mode is on), or a local .pt file.",
                             hint=OFFLINE_HINT)
    return ResolvedModel("openai-whisper", model, model)


# ---- the engine ---------------------------------------------------------------------------------
class Transcriber:
    """A loaded Whisper model (either backend) that transcribes files, one job at a time."""

    def __init__(self, backend: Backend, resolved: ResolvedModel, device: str,
                 key: tuple[str, str, str] | None = None) -> None:
        self.backend = backend
        self.engine = resolved.engine
        self.name = resolved.name  # for people: "Whisper tiny.en", "hello.pt"
        self.ref = resolved.ref
        self.device = device  # the device it runs on: "cpu" or "cuda"
        self.key = key or model_key(resolved.engine, resolved.ref, device)
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        """False once closed, or once a cancel ended an openai-whisper child: load again."""
        return self.backend is not None and getattr(self.backend, "alive", True) is not False

    def serves(self, options: TranscribeOptions) -> bool:
        """True when ``options`` can run on this loaded model (same engine, model and device)."""
        return self.alive and options.model_key == self.key

    def check(self, options: TranscribeOptions) -> None:
        """BadInput when an English-only model is asked to translate or hear another language
        (told by the loaded model, whatever its name)."""
        check_language(self.name, getattr(self.backend, "multilingual", True), options.language,
                       options.task)

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def close(self, wait: bool = False) -> None:
        """Free the model without blocking (a page may call it on the GUI thread): ends an
        openai-whisper child process; the faster-whisper thread finishes the window in flight
        and ends (``wait``: wait for it, and let an idle child exit on its own)."""
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.close(wait=wait)

    def _acquire(self, name: str, cancel: CancelToken) -> Iterator[Event]:
        """Take the lock, telling the caller once when another job holds it; Cancelled while
        waiting if the token is set."""
        if self._lock.acquire(blocking=False):
            return
        yield Progress("Waiting for the model", 0, None, name)
        while not self._lock.acquire(timeout=LOCK_POLL_S):
            cancel.raise_if_cancelled()

    def transcribe(self, path: str | Path, options: TranscribeOptions, cancel: CancelToken, *,
                   audio=None, decode_seconds: float = 0.0) -> Iterator[Event]:
        """Decode ``path`` (unless ``audio`` already holds it) and transcribe it: Progress
        ("Transcribing", done=audio seconds processed, total=duration) and a Segment per segment,
        then Done(result=Transcript). ``Transcript.seconds`` is the wall time of decoding and
        transcribing (not the wait for the lock)."""
        from core.errors import ModelUnavailable

        options = options.validate()
        if options.model_key != self.key:
            raise BadInput(f"'{self.name}' is loaded for {' / '.join(self.key)}; these options "
                           f"need {' / '.join(options.model_key)}.", hint="Load that model.")
        self.check(options)
        if audio is None:
            started = time.perf_counter()
            audio = decode(path)
            decode_seconds = time.perf_counter() - started
        duration = len(audio) / SAMPLE_RATE
        name = Path(path).name
        cancel.raise_if_cancelled()
        yield from self._acquire(name, cancel)
        try:
            backend = self.backend
            if not self.alive:
                raise ModelUnavailable(f"'{self.name}' is no longer loaded.",
                                       hint="Start the transcription again.")
            yield Progress("Transcribing", 0.0, duration, name)
            started = time.perf_counter()
            segments: list[Segment] = []
            language, probability = options.language, None
            done = 0.0
            for ev in backend.transcribe(audio, options, cancel):
                if isinstance(ev, Segment):
                    segments.append(ev)
                    yield ev
                elif isinstance(ev, Done):
                    found, probability = (ev.result if isinstance(ev.result, tuple)
                                          else (ev.result, None))
                    language = found or language
                    if options.language:  # given, not detected
                        probability = None
                elif isinstance(ev, Progress):
                    done = ev.done
                    yield Progress(ev.stage, ev.done, ev.total, name)
                else:
                    yield ev
            seconds = decode_seconds + (time.perf_counter() - started)
        finally:
            self._lock.release()
        if done < duration:
            yield Progress("Transcribing", duration, duration, name)
        transcript = Transcript(str(path), duration, segments, language, seconds, self.engine,
                                self.name, probability)
        yield Done(result=transcript,
                   summary=f"{name}: {duration:.1f} s audio in {seconds:.1f} s, "
                           f"RTF {transcript.rtf:.3f}")


def open_transcriber(registry, model_id: str | None, device: str, cancel: CancelToken,
                     engine: str = ENGINES[0], *, tokenizers=None) -> Iterator[Event]:
    """Resolve ``model_id`` for ``engine`` on ``device`` (a DevicePreference value: auto, cpu,
    cuda) and load it: Progress while it downloads and loads, then Done(result=Transcriber).
    ``registry`` None: a fresh Registry. ``tokenizers``: Whisper tokenizers parsed ahead
    (core.transcribe.ahead), used by faster-whisper."""
    from core.device import choose_device
    from core.transcribe.faster import FasterWhisperBackend
    from core.transcribe.openai import OpenAIWhisperBackend

    if engine not in ENGINES:
        raise BadInput(f"Unknown engine '{engine}'.", hint="Use faster-whisper or openai-whisper.")
    key = model_key(engine, model_id, device)
    kind = choose_device(key[2]).kind
    resolved = yield from _result(resolve_model(engine, model_id, registry, cancel))
    cancel.raise_if_cancelled()
    if engine == "faster-whisper":
        loader = FasterWhisperBackend.load(resolved.ref, device=kind, name=resolved.name,
                                           cancel=cancel, tokenizers=tokenizers)
    else:
        loader = OpenAIWhisperBackend.load(resolved.ref, device=kind, name=resolved.name,
                                           cancel=cancel)
    summary = ""
    backend = None
    for ev in loader:
        if isinstance(ev, Done):
            backend, summary = ev.result, ev.summary
        else:
            yield ev
    try:
        cancel.raise_if_cancelled()
    except BaseException:
        backend.close(wait=False)
        raise
    yield Done(result=Transcriber(backend, resolved, kind, key), summary=summary)


def transcribe_file(path: str | Path, options: TranscribeOptions, cancel: CancelToken,
                    transcriber: Transcriber | None = None, registry=None) -> Iterator[Event]:
    """Decode ``path`` and transcribe it on ``transcriber``, or on a model loaded for this one
    file (and closed after it) when none is given. The file is read before any model loads.

    Yields Progress("Loading model") while a model loads, then what Transcriber.transcribe
    yields, ending with Done(result=Transcript).
    """
    options = options.validate()
    started = time.perf_counter()
    audio = decode(path)
    decode_seconds = time.perf_counter() - started
    cancel.raise_if_cancelled()
    own = transcriber is None
    if own:
        transcriber = yield from _result(open_transcriber(registry, options.model_id,
                                                          options.device, cancel, options.engine))
    try:
        yield from transcriber.transcribe(path, options, cancel, audio=audio,
                                          decode_seconds=decode_seconds)
    finally:
        if own:  # after a cancel, return at once (the runner ends after its window)
            transcriber.close(wait=not cancel.cancelled)
