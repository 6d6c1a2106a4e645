"""Audio files: the suffixes the app offers, and decoding any of them to 16 kHz mono float32.

Decoding runs in an ``ffmpeg`` process when the program is there (the set-up installs it): PyAV,
in this process, holds the interpreter for the whole decode (0.3-0.7 s a file), which froze the
window; ffmpeg's resampler is the same libswresample, so the samples are the same. Without ffmpeg,
PyAV (faster-whisper's ``decode_audio``) decodes as before."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from core.errors import BadInput

SAMPLE_RATE = 16_000
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm", ".mp4", ".mkv",
                  ".aac", ".wma", ".mov")


def decode(path: str | Path):
    """The file's audio as float32 mono at 16 kHz (PyAV, through faster-whisper's
    ``decode_audio``). BadInput for anything that is not audio."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"'{path.name}' is not there any more (deleted or moved?).")
    if path.is_dir():
        raise BadInput(f"'{path.name}' is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise BadInput(f"'{path.name}' is empty (0 bytes).")
    try:
        audio = _with_ffmpeg(path) if shutil.which("ffmpeg") else _with_pyav(path)
    except Exception as exc:  # PyAV raises its own error types for every kind of bad file
        raise BadInput(f"Cannot read '{path.name}' as audio: it is corrupt or not an audio or "
                       "video file.") from exc  # the decoder's own error stays in the chain (the log)
    if audio.size == 0:
        raise BadInput(f"'{path.name}' has no audio in it.")
    return audio


class DecodeFailed(RuntimeError):
    """ffmpeg could not decode the file (its last lines of stderr)."""


def _with_ffmpeg(path: Path):
    import numpy as np

    done = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                           "-threads", "0", "-i", str(path), "-vn", "-f", "s16le", "-ac", "1",
                           "-acodec", "pcm_s16le", "-ar", str(SAMPLE_RATE), "-"],
                          capture_output=True)
    if done.returncode != 0:
        raise DecodeFailed(done.stderr.decode("utf-8", "replace").strip()[-500:])
    return np.frombuffer(done.stdout, np.int16).astype(np.float32) / 32768.0


def _with_pyav(path: Path):
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path), sampling_rate=SAMPLE_RATE)
