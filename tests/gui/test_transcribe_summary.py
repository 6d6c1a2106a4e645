"""The Transcribe page's transcript actions: Summarise (tiny chat model, progress, Cancel, kept
across a page rebuild), Ask in Chat, Use as training data, and [mm:ss] links (show_segment)."""
import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.gui.test_transcribe_panel import make_panel, wait_idle


def long_transcript(path, n):
    from core.transcribe import Segment, Transcript

    return Transcript(str(path), n * 4.0, [
        Segment(i * 4.0, i * 4.0 + 4.0, f"Speaker {i % 3} said that item {i} costs {i * 7} "
                                        f"pounds and ships on day {i % 30}.")
        for i in range(n)], "en", 1.0, "faster-whisper", "tiny.en")


def kept_row(qtbot, panel, transcript):
    """A finished row on the page, read back from a transcript kept on disk (as after a
    restart)."""
    from core.transcribe import save_transcript
    from gui.panels.transcribe.kept import read_item

    path = save_transcript(panel.kept.path_for_audio(transcript.path), transcript)
    item = read_item(str(path))
    panel.add_kept([item])
    panel.queue.selectRow(panel.items.index(item))
    assert panel.shown is item
    return item


def pick_tiny(window, pane, tiny_chat_dir):
    entry = window.ctx.registry.add_local(tiny_chat_dir)
    pane.model_box.set_entries(window.ctx.registry.entries())
    pane.model_box.select(entry.id)
    return entry


def test_summarise_cancel_then_summarise_and_the_summary_survives_a_rebuild(
        qtbot, window, tiny_chat_dir, tmp_path):
    panel = make_panel(qtbot, window)
    pane = panel.summary
    entry = pick_tiny(window, pane, tiny_chat_dir)
    assert window.ctx.settings.get("transcribe/summary_model") == entry.id  # remembered
    long = kept_row(qtbot, panel, long_transcript(tmp_path / "long.wav", 400))
    assert pane.summarise_button.isEnabled() and not pane.cancel_button.isVisible()

    # a long one: Cancel once the parts are under way
    qtbot.mouseClick(pane.summarise_button, Qt.LeftButton)
    assert pane.busy and pane.cancel_button.isVisible() and not pane.summarise_button.isEnabled()
    qtbot.waitUntil(lambda: pane.progress.maximum() == 1000 and "Pass 1" in pane.status.text(),
                    timeout=60_000)
    assert "of" in pane.status.text()  # "Pass 1: summarised part i of n"
    qtbot.mouseClick(pane.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not pane.busy, timeout=30_000)
    assert pane.status.text() == "Summary cancelled." and long.summary is None
    assert pane.summarise_button.isEnabled() and not pane.progress.isVisible()

    # a shorter one (still several parts for a 256-token context): written and kept
    short = kept_row(qtbot, panel, long_transcript(tmp_path / "short.wav", 3))
    qtbot.mouseClick(pane.summarise_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not pane.busy, timeout=120_000)
    assert short.summary is not None and short.summary.parts > 1
    assert short.summary.model == entry.name
    assert pane.text.toPlainText() == short.summary.text
    assert "parts" in pane.status.text() and pane.copy_button.isEnabled()
    kept = json.loads(Path(short.saved).read_text())
    assert kept["summary"]["text"] == short.summary.text and len(kept["segments"]) == 3
    written = pane.export(str(tmp_path / "summary.txt"))
    qtbot.waitUntil(lambda: (tmp_path / "summary.txt").exists(), timeout=10_000)
    assert written is not None
    assert (tmp_path / "summary.txt").read_text() == short.summary.text.strip() + "\n"
    # the other row shows its own (no) summary
    panel.queue.selectRow(panel.items.index(long))
    assert pane.text.toPlainText() == "" and not pane.copy_button.isEnabled()
    panel.shutdown()

    # a rebuilt page reads its rows back, with the summary
    again = make_panel(qtbot, window)
    qtbot.waitUntil(lambda: len(again.items) == 2, timeout=10_000)
    row = next(i for i, it in enumerate(again.items) if it.path == short.path)
    again.queue.selectRow(row)
    assert again.summary.text.toPlainText() == short.summary.text
    assert again.segments.rowCount() == 3
    again.shutdown()


def test_the_summary_shares_the_chat_pages_loaded_model(qtbot, window):
    from gui.panels.chat import ChatPanel

    panel = make_panel(qtbot, window)
    chat = ChatPanel(window.ctx)
    qtbot.addWidget(chat)
    assert panel.summary.session.kind == chat.session.kind  # one cache entry for both pages
    chat.shutdown()
    panel.shutdown()


def test_every_finished_row_is_kept_and_ask_in_chat_names_it(qtbot, window, speech_wavs):
    from core.transcribe import load_transcript
    from gui.links import AskInChat

    panel = make_panel(qtbot, window)
    panel.add_files([str(speech_wavs[0])])
    wait_idle(qtbot, panel)
    item = panel.items[0]
    assert item.status == "Done" and item.saved and Path(item.saved).is_file()
    on_disk, _ = load_transcript(item.saved)
    assert on_disk.segments and on_disk.segments[0].end > on_disk.segments[0].start
    panel.queue.selectRow(0)
    panel.segments.item(0, 2).setText("Edited before asking.")
    asked = []
    window.ctx.links.ask_in_chat.connect(asked.append)
    qtbot.mouseClick(panel.summary.ask_button, Qt.LeftButton)
    assert len(asked) == 1 and isinstance(asked[0], AskInChat)
    request = asked[0]
    assert Path(request.path) == Path(item.saved) and speech_wavs[0].name in request.title
    data = json.loads(Path(request.path).read_text())
    assert data["path"] == str(speech_wavs[0])
    assert data["segments"][0]["text"] == "Edited before asking."  # the text as shown
    assert all("start" in s and "end" in s for s in data["segments"])
    panel.shutdown()


def test_use_as_training_data_writes_the_text_and_asks_fine_tune(qtbot, window, tmp_path):
    from gui.links import TrainingData

    panel = make_panel(qtbot, window)
    item = kept_row(qtbot, panel, long_transcript(tmp_path / "lecture.wav", 5))
    with qtbot.waitSignal(window.ctx.links.train_on, timeout=10_000) as sent:
        qtbot.mouseClick(panel.summary.train_button, Qt.LeftButton)
    request = sent.args[0]
    assert isinstance(request, TrainingData) and request.task == "causal-lm"
    assert request.path == window.ctx.home.root / "training-data" / "lecture.txt"
    lines = request.path.read_text().splitlines()
    assert lines == [s.text for s in item.transcript.segments]
    panel.shutdown()


@pytest.fixture()
def played(monkeypatch):
    """The audio device: what would have been played (start and end seconds)."""
    calls = []
    monkeypatch.setattr("core.transcribe.play", lambda audio, start, end: calls.append(
        (len(audio), start, end)))
    monkeypatch.setattr("core.transcribe.stop_playback", lambda: None)
    return calls


def test_a_link_selects_and_plays_its_segment(qtbot, window, speech_wavs, played):
    from core.transcribe import Segment, Transcript, save_transcript, saved_path
    from gui.links import SegmentLink

    wav = speech_wavs[0]
    transcript = Transcript(str(wav), 3.0, [Segment(0.0, 0.7, "first"),
                                            Segment(0.7, 1.6, "second"),
                                            Segment(1.6, 3.0, "third")])
    json_path = save_transcript(saved_path(window.ctx.home.root, wav), transcript)
    # not on the page yet: the link reads the kept transcript, through the window's routing
    window.ctx.links.open_segment.emit(SegmentLink(transcript=json_path, seconds=1.2))
    panel = window.page("transcribe")
    assert window.current_page() == "transcribe"
    item = panel.shown
    assert item is not None and Path(item.saved) == json_path
    assert panel.queue.currentRow() == panel.items.index(item)
    assert [i.row() for i in panel.segments.selectionModel().selectedRows()] == [1]
    qtbot.waitUntil(lambda: len(played) == 1, timeout=10_000)
    assert played[0][1:] == (0.7, 1.6) and played[0][0] > 16000  # the decoded file
    # the row is on the page now: a link by its audio file selects it, a search is cleared
    panel.search.setText("first")
    assert panel.show_segment(SegmentLink(transcript=wav, seconds=2.2)) == 2
    assert len(panel.items) == 1 and panel.search.text() == ""
    assert [i.row() for i in panel.segments.selectionModel().selectedRows()] == [2]
    qtbot.waitUntil(lambda: len(played) == 2, timeout=10_000)
    assert played[1][1:] == (1.6, 3.0)


def test_a_link_means_the_segment_its_label_shows():
    from core.transcribe import Segment
    from gui.panels.transcribe.requests import segment_at

    segs = [Segment(0.0, 12.7, "a"), Segment(12.7, 20.0, "b"), Segment(20.0, 25.0, "c")]
    assert segment_at(segs, 12) == 1  # "[00:12]" was made from 12.7: not the one holding 12.0
    assert segment_at(segs, 12.2) == 0  # a finer time: the segment holding it
    assert segment_at(segs, 5) == 0 and segment_at(segs, 21.5) == 2
    assert segment_at(segs, 99) == 2 and segment_at([], 3) is None


def test_a_link_to_a_missing_transcript_says_so(qtbot, window, tmp_path, played):
    from gui.links import SegmentLink

    panel = make_panel(qtbot, window)
    gone = tmp_path / "gone-1234.json"
    assert panel.show_segment(SegmentLink(transcript=gone, seconds=3)) is None
    assert window.notify.isVisible() and "gone-1234.json" in window.notify.text.text()
    assert "not here any more" in window.notify.text.text()
    assert not panel.items and not played
    panel.shutdown()
