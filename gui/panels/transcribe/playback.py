"""Playing a segment of the shown file: its audio is decoded in a job (kept for the next click)
and played on the default output; ``playing(bool)`` says when playback starts and ends (Stop
playback is enabled only in between)."""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from core.events import Done, Event
from core.transcribe import Segment
from gui.panels.transcribe.jobs import decode_job


class Player(QObject):
    playing = Signal(bool)

    def __init__(self, ctx, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.audio: tuple[str, object] | None = None  # (path, decoded audio) of the last file
        self.is_playing = False
        self._ends = QTimer(self, singleShot=True, timeout=lambda: self._set_playing(False))

    def _set_playing(self, on: bool) -> None:
        if not on:
            self._ends.stop()
        if on != self.is_playing:
            self.is_playing = on
            self.playing.emit(on)

    def play(self, path: str, seg: Segment) -> None:
        if self.audio and self.audio[0] == path:
            self._play(self.audio[1], seg)
            return
        job = self.ctx.runner.start("Reading audio", decode_job(path), quiet=True)
        job.event.connect(lambda ev: self._on_audio(path, ev, seg))
        job.failed.connect(self.ctx.notify.show_error)

    def _on_audio(self, path: str, ev: Event, seg: Segment) -> None:
        if isinstance(ev, Done):
            self.audio = (path, ev.result)
            self._play(ev.result, seg)

    def _play(self, audio, seg: Segment) -> None:
        from core.transcribe import play

        try:
            play(audio, seg.start, seg.end)
        except Exception as exc:
            self._set_playing(False)
            self.ctx.notify.show_error(exc)
            return
        self._set_playing(True)
        self._ends.start(max(1, int((seg.end - seg.start) * 1000) + 100))  # it ends by itself

    def stop(self) -> None:
        from core.transcribe import stop_playback

        stop_playback()
        self._set_playing(False)
