"""The page's finished transcripts on disk: each finished row's transcript is written as JSON
(core.transcribe.saved: segments, times and its summary) into the data folder, and the list of
them is remembered in the settings, so the page shows them (and their summaries) again after a
restart. Chat attaches these files; a ``[mm:ss]`` link names one."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from core.events import Done
from gui.panels.transcribe.queue import QueueItem

log = logging.getLogger(__name__)
KEY = "transcribe/kept"  # JSON list of the kept transcripts' paths, oldest first
MOST = 50  # rows the page shows again after a restart
SAVE_EDITS_MS = 1000  # a corrected segment is written once the typing has stopped this long


def snapshot(item: QueueItem):
    """The item's transcript as it is now (edited segments included), safe to hand to a job."""
    return replace(item.transcript, segments=list(item.transcript.segments))


class KeptTranscripts(QObject):
    restored = Signal(list)  # list[QueueItem] read back after a restart

    def __init__(self, ctx, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._edited: list[QueueItem] = []  # corrected, not written yet
        self._edit_timer = QTimer(self)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(SAVE_EDITS_MS)
        self._edit_timer.timeout.connect(self.save_edits)

    def path_for(self, item: QueueItem) -> Path:
        return self.path_for_audio(item.path)

    def path_for_audio(self, audio: str | Path) -> Path:
        from core.transcribe import saved_path

        return saved_path(self.ctx.home.root, audio)

    # ---- the remembered list -------------------------------------------------------------
    def paths(self) -> list[str]:
        try:
            value = json.loads(self.ctx.settings.get(KEY, "") or "[]")
        except (TypeError, ValueError):
            return []
        return [str(p) for p in value if isinstance(p, str)] if isinstance(value, list) else []

    def _store(self, paths: list[str]) -> None:
        self.ctx.settings.set(KEY, json.dumps(paths[-MOST:]))

    def remember(self, path: str | Path) -> None:
        path = str(path)
        self._store([p for p in self.paths() if p != path] + [path])

    def forget(self, path: str | Path) -> None:
        self._store([p for p in self.paths() if p != str(path)])

    # ---- writing ---------------------------------------------------------------------------
    def write_now(self, item: QueueItem) -> Path:
        """Write the item's transcript (and summary) at once, on this thread; BadInput when the
        disk refuses. For a request that needs the file this moment (Ask in Chat)."""
        from core.transcribe import save_transcript

        path = save_transcript(self.path_for(item), snapshot(item), item.summary)
        self.kept(item, path)
        return path

    def kept(self, item: QueueItem, path: str | Path) -> None:
        item.saved = str(path)
        self.remember(path)

    def save(self, item: QueueItem) -> None:
        """Write the item's transcript in a job (a finished live row, say)."""
        if item.transcript is None:
            return
        path, transcript, summary = self.path_for(item), snapshot(item), item.summary

        def run(cancel):
            from core.transcribe import save_transcript

            yield Done(result=save_transcript(path, transcript, summary))

        job = self.ctx.runner.start(f"Saving the transcript of {item.name}", run, quiet=True)
        job.event.connect(lambda ev, it=item: isinstance(ev, Done) and self.kept(it, ev.result))
        job.failed.connect(self.ctx.notify.show_error)

    def edited(self, item: QueueItem) -> None:
        """The user corrected a segment of ``item``: its transcript is written again a moment
        later (with the corrections that follow), so a restart shows the corrected text. A row
        still running is written when it ends."""
        if item.transcript is None or not item.finished:
            return
        if not any(i is item for i in self._edited):
            self._edited.append(item)
        self._edit_timer.start()

    def save_edits(self, now: bool = False) -> None:
        """Write the corrected transcripts: in jobs, or ``now`` on this thread (on quit)."""
        from core.errors import BadInput

        items, self._edited = self._edited, []
        self._edit_timer.stop()
        for item in items:
            if not now:
                self.save(item)
                continue
            try:
                self.write_now(item)
            except (BadInput, OSError):  # the log has it; the app is closing
                log.exception("could not keep the corrections of %s", item.name)

    # ---- reading back ----------------------------------------------------------------------
    def restore(self) -> None:
        """Read the remembered transcripts in a job; ``restored`` carries their rows. A file
        gone or damaged meanwhile is dropped from the list."""
        paths = self.paths()
        if not paths:
            return

        def run(cancel):
            yield Done(result=[read_item(p) for p in paths])

        job = self.ctx.runner.start("Reading transcripts", run, quiet=True)
        job.event.connect(self._on_read)

    def _on_read(self, ev) -> None:
        if not isinstance(ev, Done):
            return
        items = [i for i in ev.result if isinstance(i, QueueItem)]
        gone = [p for p in ev.result if isinstance(p, str)]
        for p in gone:
            self.forget(p)
        self.restored.emit(items)


def read_item(path: str) -> QueueItem | str:
    """A finished row read from a kept transcript, or the path when it cannot be read."""
    from core.errors import BadInput
    from core.transcribe import load_transcript

    try:
        transcript, summary = load_transcript(path)
    except BadInput:
        return path
    return QueueItem(transcript.path, status="Done", duration=transcript.duration,
                     transcript=transcript, saved=str(path), summary=summary)
