"""One reply being generated: tokens reach its view in batches, the history gets what was shown
(with the sources it quoted, when files are attached)."""
from __future__ import annotations

import time
from collections.abc import Iterator

from PySide6.QtCore import QObject, QTimer, Signal

from core.cancel import CancelToken
from core.chat import ChatRequest, HistoryStore, ReplyStats, Sources, Token, Truncated
from core.events import Done, Event, Progress
from gui.jobs import Job
from gui.widgets.message_view import MessageView

FLUSH_MS = 40  # tokens reach the widget in batches, at most 25 times a second
SAVE_EVERY_S = 0.25  # a growing reply is written to the history this often



def under_stop(events: Iterator[Event], stop: CancelToken, cancel: CancelToken) -> Iterator[Event]:
    """``events`` (an engine's stream started with ``stop``) passed on; the job's ``cancel``
    (quitting the app) sets ``stop`` too, so the engine ends at its next step either way."""
    try:
        for ev in events:
            if cancel.cancelled:
                stop.cancel()
            yield ev
    finally:
        events.close()

class ReplyStream(QObject):
    truncated = Signal(str)  # the notice: the oldest messages were left out
    finished = Signal(object)  # ReplyStats, or None after a failure

    def __init__(self, ctx, store: HistoryStore, view: MessageView, reply_id: int,
                 model_name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.store, self.view, self.reply_id = ctx, store, view, reply_id
        self.model_name = model_name
        self.job: Job | None = None
        self._pending = ""
        self._waiting = False  # beam search: a placeholder shows until the reply is complete
        self._last_save = time.monotonic()
        self._stats: ReplyStats | None = None
        self.sources: list[dict] = []  # what the answer was given to read (files attached)
        self._closed = False
        self._stop = CancelToken()
        self._timer = QTimer(self, interval=FLUSH_MS, timeout=self.flush)

    def start(self, engine, request: ChatRequest, stream=None) -> Job:
        """``stream(request, cancel)``: the events to show (default: the engine's own stream;
        with files attached, ``core.chat.answer_with_files``)."""
        if not request.settings.streams:
            self.view.set_text("Beam search: the reply appears when it is complete…", final=False)
            self.view.text = ""
            self._waiting = True
        self.job = self.ctx.runner.start("Generating a reply",
                                         lambda c: self._stream(stream or engine.stream,
                                                                request, c),
                                         min_interval=0)
        self.job.event.connect(self._on_event)
        self.job.failed.connect(self._on_failed)
        self.job.finished.connect(self._on_finished)
        self._timer.start()
        return self.job

    def _stream(self, stream, request: ChatRequest, cancel: CancelToken) -> Iterator[Event]:
        """The engine's stream under the reply's own stop token. Stop sets only that token, so
        the engine ends the reply at its next step and still delivers its figures (Done with
        stopped=True); the job's token (quitting the app) stops it too."""
        return under_stop(stream(request, self._stop), self._stop, cancel)

    def stop(self) -> None:
        """End the reply at the engine's next step; what was generated stays, measured and
        marked "stopped"."""
        self._stop.cancel()

    def _on_event(self, ev: Event) -> None:
        if self._closed:
            return
        if isinstance(ev, Token):
            if self._waiting:
                self._waiting = False
                self.view.set_text("", final=False)
            self._pending += ev.text
        elif isinstance(ev, Truncated):
            self.truncated.emit(ev.message)
        elif isinstance(ev, Sources):
            self.sources = [s.to_dict() for s in ev.sources]
            self.view.set_sources(self.sources)
            self.view.set_figures("")
        elif isinstance(ev, Progress):  # the attached files being indexed before the answer
            self.view.set_figures(ev.stage + (f" {ev.fraction:.0%}" if ev.fraction else ""))
        elif isinstance(ev, Done):
            self.flush()
            stats: ReplyStats = ev.result
            meta = {**stats.figures(), "model": self.model_name}
            if self.sources:
                meta["sources"] = self.sources
            self.view.set_text(stats.text, final=True)
            self.view.set_meta(meta)
            self.store.update_message(self.reply_id, stats.text, meta)
            self._stats = stats

    def flush(self) -> None:
        if self._closed or not self._pending:
            return
        piece, self._pending = self._pending, ""
        self.view.append(piece)
        now = time.monotonic()
        if now - self._last_save >= SAVE_EVERY_S:
            self._last_save = now
            self.store.update_message(self.reply_id, self.view.text)

    def mark_failed(self) -> None:
        self.flush()
        self.store.update_message(self.reply_id, self.view.text, {"error": True, "partial": True})
        self.view.set_figures("failed: the partial reply is kept")

    def _on_failed(self, exc: BaseException) -> None:
        if not self._closed:
            self.mark_failed()
        self.ctx.notify.show_error(exc)

    def _on_finished(self) -> None:
        self._timer.stop()
        if self._closed:
            return
        self.flush()
        self.job = None
        self.finished.emit(self._stats)

    def save_and_close(self) -> None:
        """On quit: what was shown is saved; signals still queued find nothing to do."""
        if self._closed:
            return
        self.flush()
        self.store.update_message(self.reply_id, self.view.text, {"partial": True, "stopped": True})
        self._closed = True
        self._timer.stop()
