"""The Transcribe page: a queue of audio files, Whisper engines, a segment viewer, exports,
recording. ``from gui.panels.transcribe import TranscribePanel``."""
from __future__ import annotations

from gui.panels.transcribe.panel import TranscribePanel
from gui.panels.transcribe.queue import QueueItem

__all__ = ["QueueItem", "TranscribePanel"]
