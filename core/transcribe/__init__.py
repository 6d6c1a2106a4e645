"""Transcribe: Whisper backends, audio, formats, recording.

What the panels, the CLI and other packages use; the modules inside may move."""
from __future__ import annotations

from core.transcribe.record import (
    Level,
    check_input_device,
    play,
    record,
    stop_playback,
)
from core.transcribe.service import (
    AUDIO_SUFFIXES,
    DEFAULT_FASTER_MODEL,
    BackendCache,
    Segment,
    TranscribeOptions,
    Transcript,
    Word,
    decode,
    export,
    export_path,
    to_txt,
    transcribe_file,
)

__all__ = [
    'AUDIO_SUFFIXES', 'BackendCache', 'DEFAULT_FASTER_MODEL', 'Level', 'Segment',
    'TranscribeOptions', 'Transcript', 'Word', 'check_input_device', 'decode', 'export',
    'export_path', 'play', 'record', 'stop_playback', 'to_txt', 'transcribe_file',
]
