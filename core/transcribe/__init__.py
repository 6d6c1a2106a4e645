"""Transcribe: Whisper backends, audio, formats, recording."""
