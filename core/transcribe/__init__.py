"""Transcribe: Whisper backends, audio, formats, recording.

What the panels, the CLI and other packages use; the modules inside may move."""
from __future__ import annotations

from core.transcribe.audio import AUDIO_SUFFIXES, decode
from core.transcribe.corpus import corpus_text, write_corpus
from core.transcribe.formats import (
    DEFAULT_FORMAT,
    FORMATS,
    export,
    export_path,
    to_txt,
    write_export,
)
from core.transcribe.record import (
    Level,
    Recording,
    check_input_device,
    play,
    record,
    stop_playback,
)
from core.transcribe.saved import SavedSummary, load_transcript, save_transcript, saved_path
from core.transcribe.service import Transcriber, open_transcriber, transcribe_file
from core.transcribe.subtitles import Cue, SubtitleOptions, cues
from core.transcribe.types import (
    DEFAULT_FASTER_MODEL,
    DEFAULT_MODELS,
    DEFAULT_OPENAI_MODEL,
    ENGINES,
    ENGLISH_MODELS,
    MAX_BEAM_SIZE,
    TASKS,
    Segment,
    TranscribeOptions,
    Transcript,
    Word,
    default_model,
    english_only,
)

__all__ = [
    'AUDIO_SUFFIXES', 'DEFAULT_FASTER_MODEL', 'DEFAULT_FORMAT', 'DEFAULT_MODELS',
    'DEFAULT_OPENAI_MODEL', 'ENGINES', 'ENGLISH_MODELS', 'FORMATS', 'Level', 'MAX_BEAM_SIZE',
    'Cue', 'Recording', 'SavedSummary', 'Segment', 'SubtitleOptions', 'TASKS',
    'TranscribeOptions', 'Transcriber', 'Transcript', 'Word', 'cues',
    'check_input_device', 'corpus_text', 'decode', 'default_model', 'english_only', 'export',
    'export_path', 'load_transcript', 'open_transcriber', 'play', 'record', 'save_transcript',
    'saved_path', 'stop_playback', 'to_txt', 'transcribe_file', 'write_corpus', 'write_export',
]
