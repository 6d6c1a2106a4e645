"""Audio files: the suffixes the app offers, and decoding any of them to 16 kHz mono float32."""
from __future__ import annotations

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
    from faster_whisper.audio import decode_audio

    try:
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises its own error types for every kind of bad file
        raise BadInput(f"Cannot read '{path.name}' as audio: it is corrupt or not an audio or "
                       "video file.") from exc  # PyAV's own error stays in the chain (the log)
    if audio.size == 0:
        raise BadInput(f"'{path.name}' has no audio in it.")
    return audio
