"""The page's part in the requests between pages (gui.links): asking Chat about the shown
transcript, handing its text to Fine-tune as a raw-text corpus, and answering a ``[mm:ss]`` link
(SegmentLink) by selecting the transcript and playing the segment that holds that moment."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import BadInput
from core.events import Done
from gui.links import AskInChat, SegmentLink, TrainingData
from gui.panels.transcribe.kept import read_item, snapshot

if TYPE_CHECKING:
    from core.transcribe import Segment
    from gui.panels.transcribe.panel import TranscribePanel
    from gui.panels.transcribe.queue import QueueItem


def ask_in_chat(panel: TranscribePanel) -> AskInChat | None:
    """Keep the shown transcript as it is now (edits included) and ask Chat to open a
    conversation with that JSON attached. The request, or None when there is nothing to ask."""
    item = panel.shown
    if item is None or item.transcript is None:
        return None
    try:
        path = panel.kept.write_now(item)
    except BadInput as exc:
        panel.ctx.notify.show_error(exc)
        return None
    request = AskInChat(path=path, title=f"Transcript of {item.name}")
    panel.ctx.links.ask_in_chat.emit(request)
    return request


def train_on(panel: TranscribePanel):
    """Write the shown transcript's text as a raw-text corpus (core.transcribe.write_corpus, in
    a job) and ask Fine-tune for a new causal-lm run on it. The job, or None."""
    item = panel.shown
    if item is None or item.transcript is None:
        return None
    transcript, root, name = snapshot(item), panel.ctx.home.root, Path(item.path).stem

    def run(cancel):
        from core.transcribe import write_corpus

        yield Done(result=write_corpus(transcript, root, name))

    def written(ev) -> None:
        if isinstance(ev, Done):
            panel.ctx.notify.show_info(f"Wrote the transcript's text to {ev.result}",
                                       timeout_ms=4000)
            panel.ctx.links.train_on.emit(TrainingData(task="causal-lm", path=ev.result))

    job = panel.ctx.runner.start(f"Writing training data from {item.name}", run, quiet=True)
    job.event.connect(written)
    job.failed.connect(panel.ctx.notify.show_error)
    return job


# ---- a [mm:ss] link ------------------------------------------------------------------------------
def _same(a: str | Path | None, b: Path) -> bool:
    if not a:
        return False
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return Path(a) == b


def find_item(items: list[QueueItem], target: Path) -> QueueItem | None:
    """The row whose kept transcript, or whose audio, is ``target``."""
    return next((i for i in items if _same(i.saved, target) or _same(i.path, target)), None)


def segment_at(segments: list[Segment], seconds: float) -> int | None:
    """The segment a link to ``seconds`` means. A whole second is a ``[mm:ss]`` label, made from
    a segment's start cut to the second: the segment whose start shows as that label (else the
    one holding the moment). A finer time: the segment holding it. Else the nearest start."""
    if not segments:
        return None
    whole = int(seconds)
    labelled = [i for i, s in enumerate(segments) if int(s.start) == whole]
    holding = [i for i, s in enumerate(segments) if s.start <= seconds < s.end]
    both = [i for i in labelled if i in holding]
    order = (both, labelled, holding) if seconds == whole else (holding, labelled)
    for found in order:
        if found:
            return found[0]
    return min(range(len(segments)), key=lambda i: abs(segments[i].start - seconds))


def _row_for(panel: TranscribePanel, target: Path) -> QueueItem | None:
    """The row for ``target``: one on the page, else one read from the transcript kept on disk
    (the JSON itself, or the one kept for that audio file) and added as a finished row."""
    item = find_item(panel.items, target)
    if item is not None:
        return item
    kept = target if target.suffix.lower() == ".json" else panel.kept.path_for_audio(target)
    if not kept.is_file():
        panel.ctx.notify.show_error(BadInput(
            f"The transcript '{target.name}' is not here any more ({target}).",
            hint="Transcribe the recording again, then follow the link."))
        return None
    found = read_item(str(kept))
    if isinstance(found, str):
        panel.ctx.notify.show_error(BadInput(f"The transcript '{kept}' cannot be read."))
        return None
    panel.add_kept([found])
    return found


def show_segment(panel: TranscribePanel, request: SegmentLink) -> int | None:
    """Select the transcript ``request`` names, select and scroll to the segment holding
    ``request.seconds`` and play it. The segment's index, or None (a notice says why)."""
    item = _row_for(panel, Path(request.transcript))
    if item is None:
        return None
    panel.queue.selectRow(panel.items.index(item))
    if panel.shown is not item:
        panel.viewer.show_item(item)
    if item.transcript is None:
        panel.ctx.notify.show_info(f"{item.name} is not transcribed yet ({item.status}).")
        return None
    segments = item.transcript.segments
    index = segment_at(segments, float(request.seconds))
    if index is None:
        panel.ctx.notify.show_info(f"The transcript of {item.name} has no segments.")
        return None
    table = panel.viewer.table
    if table.isRowHidden(index):
        panel.search.clear()  # the search hid it
    table.selectRow(index)
    table.scrollToItem(table.item(index, 0), table.ScrollHint.PositionAtCenter)
    panel.player.play(item.path, segments[index])
    return index
