"""Microphone recording and playback through sounddevice (PortAudio).

``record(stop, cancel, folder)`` yields Level events (for a meter) while it records, and
Done(result=Recording) once ``stop`` is set: the audio is written to a WAV file that the
transcription queue then takes. ``cancel`` discards the recording instead.
"""
from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.cancel import CancelToken
from core.errors import Cancelled, DeviceUnavailable
from core.events import Done, Event

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Level(Event):
    rms: float
    peak: float
    elapsed: float
    coalescable = True


@dataclass(frozen=True)
class Recording:
    path: str
    duration: float


def _sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise DeviceUnavailable("Sound is unavailable: the PortAudio library is not installed.",
                                hint="Install it: sudo apt-get install libportaudio2") from exc
    return sounddevice


def check_input_device() -> str:
    """The default microphone's name, or DeviceUnavailable saying there is none."""
    sd = _sounddevice()
    try:
        info = sd.query_devices(kind="input")
    except Exception as exc:
        raise DeviceUnavailable("No microphone found: this computer has no audio input device.",
                                hint="Plug one in (or enable it), or drop audio files instead.") \
            from exc
    return str(info.get("name", "microphone"))


def _default_stream(samplerate: int, callback):
    sd = _sounddevice()
    return sd.InputStream(samplerate=samplerate, channels=1, dtype="float32", callback=callback)


StreamFactory = Callable[[int, Callable], object]  # returns a context manager that records


def record(stop: CancelToken, cancel: CancelToken, folder: str | Path, *,
           stream_factory: StreamFactory | None = None, max_seconds: float = 4 * 3600
           ) -> Iterator[Event]:
    import numpy as np

    if stream_factory is None:
        check_input_device()
        stream_factory = _default_stream
    chunks: queue.Queue = queue.Queue()

    def callback(indata, frames, time_info, status):  # PortAudio's thread: copy and hand over
        chunks.put(np.array(indata[:, 0] if indata.ndim > 1 else indata, dtype=np.float32))

    parts: list = []
    samples = 0
    started = time.monotonic()
    try:
        stream = stream_factory(SAMPLE_RATE, callback)
    except DeviceUnavailable:
        raise
    except Exception as exc:
        raise DeviceUnavailable(f"Cannot open the microphone: {exc}") from exc
    with stream:
        while not stop.cancelled and samples < max_seconds * SAMPLE_RATE:
            if cancel.cancelled:
                raise Cancelled("Recording discarded.")
            try:
                chunk = chunks.get(timeout=0.1)
            except queue.Empty:
                continue
            parts.append(chunk)
            samples += len(chunk)
            if chunk.size:
                yield Level(float(np.sqrt(np.mean(chunk ** 2))), float(np.max(np.abs(chunk))),
                            samples / SAMPLE_RATE)
    while not chunks.empty():  # what arrived before the stream closed
        parts.append(chunks.get_nowait())
    if cancel.cancelled:
        raise Cancelled("Recording discarded.")
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    if audio.size == 0:
        raise DeviceUnavailable("The microphone delivered no sound.")
    import soundfile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / time.strftime("recording-%Y%m%d-%H%M%S.wav")
    soundfile.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    duration = audio.size / SAMPLE_RATE
    yield Done(result=Recording(str(path), duration),
               summary=f"Recorded {duration:.1f} s ({time.monotonic() - started:.1f} s).")


def play(audio, start: float = 0.0, end: float | None = None) -> None:
    """Play a span of 16 kHz audio on the default output (returns at once)."""
    sd = _sounddevice()
    try:
        sd.query_devices(kind="output")
    except Exception as exc:
        raise DeviceUnavailable("No speakers found: this computer has no audio output device.") \
            from exc
    a = int(max(start, 0) * SAMPLE_RATE)
    b = None if end is None else int(end * SAMPLE_RATE)
    sd.stop()
    sd.play(audio[a:b], SAMPLE_RATE)


def stop_playback() -> None:
    try:
        _sounddevice().stop()
    except DeviceUnavailable:
        pass
