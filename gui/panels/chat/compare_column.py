"""One column of the Chat page's Compare mode: its own model picker and loaded model (through the
shared model cache, so a model the Chat page holds is not loaded twice), and one streamed reply
with its figures line (tokens, tok/s, TTFT, as under a chat reply)."""
from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFrame, QVBoxLayout, QWidget

from core.cancel import CancelToken
from core.chat import DEFAULT_CHAT_MODEL, ChatRequest, ReplyStats, Token
from core.events import Done, Event
from core.models.registry import Task
from gui.jobs import Job
from gui.panels.chat.loaded import describe_engine
from gui.panels.chat.reply import under_stop
from gui.widgets.message_view import MessageView
from gui.widgets.model_box import ModelBox
from gui.widgets.model_session import ModelSession
from gui.widgets.transcript import Transcript

FLUSH_MS = 40  # tokens reach the view in batches, at most 25 times a second


class CompareColumn(QFrame):
    """``run(request, options)`` loads the picked model if needed and streams its reply;
    ``stop()`` ends it (or the load, or a reply not begun yet). ``finished`` comes once per run:
    ReplyStats, or None when it failed or was stopped before it began."""

    finished = Signal(object)

    def __init__(self, ctx, loader, settings_key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareColumn")
        self.ctx = ctx
        self.session = ModelSession(ctx, loader, parent=self)
        self.box = ModelBox(ctx, tasks=(Task.TEXT_GENERATION,), default_id=DEFAULT_CHAT_MODEL,
                            default_name="SmolLM2-135M-Instruct", settings_key=settings_key,
                            hint="Loads when you compare.")
        self.box.bind(self.session, describe_engine)
        self.box.combo.setMinimumWidth(120)  # two columns share the centre
        self.transcript = Transcript()  # the chat's own column of messages, holding one reply
        self.view: MessageView = self.transcript.add("assistant", "", {}, None)
        self.transcript.copy_requested.connect(self._copy)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.box)
        lay.addWidget(self.box.status)
        lay.addWidget(self.transcript, 1)
        self.job: Job | None = None
        self.stats: ReplyStats | None = None
        self.model_name = ""
        self._stop = CancelToken()
        self._pending = ""
        self._running = False
        self._closed = False
        self._timer = QTimer(self, interval=FLUSH_MS, timeout=self.flush)
        self.session.failed.connect(lambda _exc: self._end(None, "the model could not be loaded"))
        self.session.cancelled.connect(lambda: self._end(None, "stopped while loading"))

    @property
    def busy(self) -> bool:
        return self._running

    def clear(self, figures: str = "") -> None:
        self._pending = ""
        self.view.set_text("", final=False)
        self.view.set_figures(figures)

    def run(self, request: ChatRequest, options=None) -> None:
        if self._running or self._closed:
            return
        self._running = True
        self._stop = CancelToken()
        self.stats = None
        self.clear("waiting for the model…")
        self.session.ensure(self.box.current_id(), lambda engine: self._start(engine, request),
                            label=self.box.current_name(), options=options)

    def _start(self, engine, request: ChatRequest) -> None:
        if self._closed or not self._running:
            return
        if self._stop.cancelled:
            self._end(None, "stopped before it began")
            return
        self.model_name = engine.info.name
        self.view.who.setText(self.model_name)
        self.view.set_figures("generating…")
        self.job = self.ctx.runner.start(f"Comparing: {self.model_name}",
                                         lambda c: self._events(engine, request, c),
                                         min_interval=0)
        self.job.event.connect(self._on_event)
        self.job.failed.connect(self._on_failed)
        self.job.finished.connect(self._on_finished)
        self._timer.start()

    def _events(self, engine, request: ChatRequest, cancel: CancelToken) -> Iterator[Event]:
        """The engine's stream under the column's own stop token (Stop ends the reply at the
        engine's next step and its figures still come); quitting the app stops it too."""
        return under_stop(engine.stream(request, self._stop), self._stop, cancel)

    def stop(self) -> None:
        """End the reply at its next step, cancel a load, or keep a reply from beginning."""
        self._stop.cancel()
        if self.session.busy:
            self.session.cancel()

    def flush(self) -> None:
        if self._closed or not self._pending:
            return
        piece, self._pending = self._pending, ""
        self.view.append(piece)

    def _on_event(self, ev: Event) -> None:
        if self._closed:
            return
        if isinstance(ev, Token):
            self._pending += ev.text
        elif isinstance(ev, Done):
            self._pending = ""
            self.stats = ev.result
            self.view.set_text(self.stats.text, final=True)
            self.view.set_meta({**self.stats.figures(), "model": self.model_name})

    def _on_failed(self, exc: BaseException) -> None:
        if not self._closed:
            self.flush()
            self.view.set_figures("failed: the partial reply is kept")
        self.ctx.notify.show_error(exc)

    def _on_finished(self) -> None:
        self._timer.stop()
        self.job = None
        if not self._closed:
            self.flush()
        self._end(self.stats)

    def _end(self, stats: ReplyStats | None, why: str = "") -> None:
        if not self._running:
            return
        self._running = False
        if why and not self._closed:
            self.view.set_figures(why)
        self.finished.emit(stats)

    def _copy(self, text: str) -> None:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(text)

    def shutdown(self) -> None:
        """On quit: stop, and never load or start again."""
        self.stop()
        self._closed = True
        self._timer.stop()
        self.session.shutdown()
