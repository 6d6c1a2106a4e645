"""Live transcription: microphone audio cut into utterances by voice activity (faster-whisper's
Silero VAD) and transcribed while the person speaks.

``live(transcriber, options, stop, cancel, folder)`` yields Level events for a meter, Tentative
events for the utterance still being spoken (each replaces the previous one), a Segment for each
finished utterance (times in the recording), and, once ``stop`` is set, Done(result=LiveResult):
everything heard, including audio still queued when Stop came, is transcribed and the recording is
saved as a WAV beside its Transcript. ``cancel`` discards it all. The audio source is injectable
(``stream_factory``, as for ``record``), so tests feed a file at real-time speed.
"""
from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from core.cancel import CancelToken
from core.errors import Cancelled, DeviceUnavailable
from core.events import Done, Event
from core.transcribe.record import SAMPLE_RATE, Level, Recording, StreamFactory, check_input_device
from core.transcribe.types import Segment, TranscribeOptions, Transcript

FRAME = 512  # samples per VAD decision (32 ms)


@dataclass(frozen=True)
class LiveOptions:
    threshold: float = 0.5  # speech probability that starts an utterance
    end_threshold: float = 0.35  # below this, a frame counts as silence
    min_silence: float = 0.5  # seconds of silence that end an utterance
    pad: float = 0.3  # seconds kept before and after the speech
    context_chars: int = 200  # of the text heard so far, given to Whisper as the prompt
    max_utterance: float = 20.0  # a longer one is cut (Whisper's window is 30 s)
    tentative_every: float = 1.0  # seconds of new speech between two tentative transcriptions
    # ...and at least this many times what the last tentative transcription took: on a slow model
    # (Whisper base on 2 cores) the tentative text must not hold up the final one
    tentative_cost_factor: float = 3.0


@dataclass(frozen=True)
class Tentative(Event):
    """The text of the utterance still being spoken, so far (it may change)."""

    start: float
    end: float
    text: str
    coalescable = True


@dataclass(frozen=True)
class LiveResult:
    recording: Recording
    transcript: Transcript


class Utterances:
    """Silero VAD over a growing buffer: tells where utterances start and end.

    Speech probabilities are computed for each new 32 ms frame, with 1 s of the audio before it
    as context (the model is stateless between calls)."""

    CONTEXT = 32 * FRAME  # samples (about 1 s)

    def __init__(self, options: LiveOptions) -> None:
        from faster_whisper.vad import get_vad_model

        self.o = options
        self.model = get_vad_model()
        self.frames = 0  # frames decided so far
        self.start: int | None = None  # sample where the current utterance starts
        self.silence = 0  # frames of silence at the end of the current utterance

    def feed(self, audio, final: bool = False) -> list[tuple[int, int]]:
        """Decide the frames that ``audio`` (the whole buffer so far) completes; the utterances
        (start, end sample) that ended. ``final``: the stream ended, close the current one."""
        import numpy as np

        ended: list[tuple[int, int]] = []
        total = len(audio) // FRAME
        if total > self.frames:
            first = max(0, self.frames * FRAME - self.CONTEXT)
            # a copy: the Silero model writes zeros into its input (the context of its last frame)
            probs = self.model(np.array(audio[first:total * FRAME], dtype=np.float32))
            probs = np.asarray(probs).reshape(-1)[-(total - self.frames):]
            pad = int(self.o.pad * SAMPLE_RATE)
            need = int(self.o.min_silence * SAMPLE_RATE / FRAME)
            longest = int(self.o.max_utterance * SAMPLE_RATE)
            for i, p in enumerate(probs, self.frames):
                at = i * FRAME
                if self.start is None:
                    if p >= self.o.threshold:
                        self.start = max(0, at - pad)
                        self.silence = 0
                    continue
                self.silence = self.silence + 1 if p < self.o.end_threshold else 0
                if self.silence >= need:
                    ended.append((self.start, min(at - self.silence * FRAME + pad, len(audio))))
                    self.start = None
                elif at + FRAME - self.start >= longest:
                    ended.append((self.start, at + FRAME))
                    self.start = at + FRAME
            self.frames = total
        if final and self.start is not None:
            ended.append((self.start, len(audio)))
            self.start = None
        return ended


def _default_stream(device):
    def open_stream(samplerate: int, callback):
        from core.transcribe.record import _sounddevice

        sd = _sounddevice()
        return sd.InputStream(samplerate=samplerate, channels=1, dtype="float32",
                              callback=callback, device=device)

    return open_stream


class FileStream:
    """An audio source that plays decoded audio into the callback at ``speed`` times real time,
    in blocks of ``block`` seconds, from its own thread (as PortAudio does): for tests, the
    benchmark and demos. ``finished_at`` is when the last block was delivered (monotonic)."""

    def __init__(self, audio, callback, *, speed: float = 1.0, block: float = 0.1) -> None:
        self.audio, self.callback, self.speed, self.block = audio, callback, speed, block
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.delivered = 0  # samples
        self._thread = None
        self._stop = None

    @classmethod
    def factory(cls, audio, *, speed: float = 1.0, block: float = 0.1, streams: list | None = None
                ) -> StreamFactory:
        """A stream_factory for ``live``/``record``; each stream made is appended to ``streams``."""

        def make(samplerate: int, callback):
            stream = cls(audio, callback, speed=speed, block=block)
            if streams is not None:
                streams.append(stream)
            return stream

        return make

    def _run(self) -> None:
        n = int(self.block * SAMPLE_RATE)
        self.started_at = time.monotonic()
        for i, a in enumerate(range(0, len(self.audio), n)):
            due = self.started_at + (i + 1) * self.block / self.speed  # a block is heard whole
            while not self._stop.is_set() and time.monotonic() < due:
                self._stop.wait(min(0.01, max(due - time.monotonic(), 0)))
            if self._stop.is_set():
                return
            piece = self.audio[a:a + n]
            self.callback(piece.reshape(-1, 1), len(piece), None, None)
            self.delivered += len(piece)
        self.finished_at = time.monotonic()

    def __enter__(self):
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="file stream")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def input_devices() -> list[str]:
    """The names of the audio input devices (empty when there are none or no sound library)."""
    from core.transcribe.record import _sounddevice

    try:
        sd = _sounddevice()
        return [d["name"] for d in sd.query_devices() if d.get("max_input_channels", 0) > 0]
    except Exception:
        return []


def live(transcriber, options: TranscribeOptions, stop: CancelToken, cancel: CancelToken,
         folder: str | Path, *, device: str | int | None = None,
         stream_factory: StreamFactory | None = None, settings: LiveOptions | None = None,
         max_seconds: float = 4 * 3600) -> Iterator[Event]:
    import numpy as np

    settings = settings or LiveOptions()
    options = replace(options.validate(), batched=False, vad_filter=False)
    transcriber.check(options)
    if stream_factory is None:
        check_input_device()
        stream_factory = _default_stream(device)
    chunks: queue.Queue = queue.Queue()

    def callback(indata, frames, time_info, status):  # the audio thread: copy and hand over
        chunks.put(np.array(indata[:, 0] if indata.ndim > 1 else indata, dtype=np.float32))

    vad = Utterances(settings)
    buffer = np.zeros(0, dtype=np.float32)
    segments: list[Segment] = []
    language, busy = None, 0.0
    quick_cost = 0.0  # seconds the last tentative transcription took
    tentative_at = 0  # buffer length at the last tentative transcription
    started = time.monotonic()

    def transcribe(a: int, b: int, quick: bool = False) -> list[Segment]:
        """The clip's segments, times in the recording; ``quick``: greedy, no word timings (for
        the tentative text, replaced soon anyway)."""
        nonlocal language, busy
        clip = buffer[a:b]
        if len(clip) < FRAME:
            return []
        t0 = time.perf_counter()
        result = None
        heard_so_far = " ".join(s.text for s in segments)[-settings.context_chars:]
        o = options if options.initial_prompt or not heard_so_far else \
            replace(options, initial_prompt=heard_so_far)  # carries the context across cuts
        if quick:
            o = replace(o, beam_size=1, word_timestamps=False)
        for ev in transcriber.transcribe("live", o, cancel, audio=clip):
            if isinstance(ev, Done):
                result = ev.result
        busy += time.perf_counter() - t0
        language = result.language or language
        offset = a / SAMPLE_RATE
        last = offset + len(clip) / SAMPLE_RATE  # Whisper's times may run past the clip's end

        def at(t: float) -> float:
            return min(t + offset, last)

        return [replace(s, start=at(s.start), end=at(s.end),
                        words=tuple(replace(w, start=at(w.start), end=at(w.end))
                                    for w in s.words))
                for s in result.segments if s.text.strip()]

    def take(block: bool) -> bool:
        nonlocal buffer
        got = []
        try:
            got.append(chunks.get(timeout=0.05) if block else chunks.get_nowait())
            while True:
                got.append(chunks.get_nowait())
        except queue.Empty:
            pass
        if got:
            buffer = np.concatenate([buffer, *got])
        return bool(got)

    def heard(final: bool) -> Iterator[Event]:
        nonlocal tentative_at, quick_cost
        for a, b in vad.feed(buffer, final):
            for seg in transcribe(a, b):
                segments.append(seg)
                yield seg
            tentative_at = len(buffer)
        every = max(settings.tentative_every, settings.tentative_cost_factor * quick_cost)
        if (not final and vad.start is not None and chunks.empty()  # not behind the speaker
                and len(buffer) - max(tentative_at, vad.start) >= every * SAMPLE_RATE):
            tentative_at = len(buffer)
            t0 = time.perf_counter()
            text = " ".join(s.text for s in transcribe(vad.start, len(buffer), quick=True))
            quick_cost = time.perf_counter() - t0
            yield Tentative(vad.start / SAMPLE_RATE, len(buffer) / SAMPLE_RATE, text)

    try:
        stream = stream_factory(SAMPLE_RATE, callback)
    except DeviceUnavailable:
        raise
    except Exception as exc:
        raise DeviceUnavailable(f"Cannot open the microphone: {exc}") from exc
    with stream:
        while not stop.cancelled and len(buffer) < max_seconds * SAMPLE_RATE:
            cancel.raise_if_cancelled()
            if not take(block=True):
                continue
            tail = buffer[-FRAME * 8:]
            yield Level(float(np.sqrt(np.mean(tail ** 2))), float(np.max(np.abs(tail))),
                        len(buffer) / SAMPLE_RATE)
            yield from heard(final=False)
    take(block=False)  # what arrived before the stream closed
    cancel.raise_if_cancelled()
    yield from heard(final=True)
    if cancel.cancelled:
        raise Cancelled("Recording discarded.")
    if buffer.size == 0:
        raise DeviceUnavailable("The microphone delivered no sound.")
    import soundfile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / time.strftime("live-%Y%m%d-%H%M%S.wav")
    soundfile.write(path, buffer, SAMPLE_RATE, subtype="PCM_16")
    duration = buffer.size / SAMPLE_RATE
    transcript = Transcript(str(path), duration, segments, language, busy, transcriber.engine,
                            transcriber.name)
    yield Done(result=LiveResult(Recording(str(path), duration), transcript),
               summary=f"Live: {duration:.1f} s heard in {time.monotonic() - started:.1f} s, "
                       f"{len(segments)} segments.")
