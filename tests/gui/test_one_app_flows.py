"""The pages working together in one window: a transcript asked about in Chat, and a [mm:ss] link
in the answer playing that moment on the Transcribe page."""
import pytest
from PySide6.QtCore import QPoint, Qt

from tests.gui.test_chat_attach import ScriptedEngine
from tests.gui.test_chat_panel import make_panel, send_and_wait
from tests.gui.test_transcribe_summary import kept_row


@pytest.fixture()
def played(monkeypatch):
    calls = []
    monkeypatch.setattr("core.transcribe.play", lambda audio, start, end: calls.append((start, end)))
    monkeypatch.setattr("core.transcribe.stop_playback", lambda: None)
    return calls


def click_anchor(qtbot, body, anchor):
    qtbot.waitUntil(lambda: body.isVisible() and body.height() > 10, timeout=5000)
    spot = next((QPoint(x, y) for y in range(2, body.height(), 3)
                 for x in range(2, body.viewport().width(), 3)
                 if body.anchorAt(QPoint(x, y)) == anchor), None)
    assert spot is not None, body.toHtml()
    qtbot.mouseClick(body.viewport(), Qt.LeftButton, pos=spot)


def test_ask_in_chat_then_a_moment_link_plays_that_segment(qtbot, window, speech_wavs, played):
    from core.transcribe import Segment, Transcript

    window.show_page("transcribe")
    transcribe = window.page("transcribe")
    wav = speech_wavs[0]
    item = kept_row(qtbot, transcribe, Transcript(
        str(wav), 9.0, [Segment(0.0, 2.0, "The budget is approved."),
                        Segment(2.0, 5.0, "The launch moves to March."),
                        Segment(5.0, 9.0, "Carla writes to the customers.")],
        "en", 1.0, "faster-whisper", "tiny.en"))
    engine = ScriptedEngine("The launch moves to March, at [00:02].")
    chat, _ = make_panel(qtbot, window, engine)
    window._place_page("chat", chat)  # the window's Chat page, on a scripted engine

    with qtbot.waitSignal(chat.attachments.attached, timeout=30_000) as attached:
        qtbot.mouseClick(transcribe.summary.ask_button, Qt.LeftButton)
    assert attached.args == [True] and window.current_page() == "chat"
    assert len(chat.attachments.bar.chips) == 1
    send_and_wait(qtbot, chat, "When does the launch move?", timeout=30_000)
    prompt = engine.requests[-1].system_prompt
    assert "[00:02]" in prompt and "The launch moves to March." in prompt  # the transcript went in
    assert "[mm:ss]" in prompt

    click_anchor(qtbot, chat.views[-1].body, "moment:2")
    assert window.current_page() == "transcribe"
    assert transcribe.shown is item
    assert [i.row() for i in transcribe.segments.selectionModel().selectedRows()] == [1]
    qtbot.waitUntil(lambda: len(played) == 1, timeout=10_000)
    assert played[0] == (2.0, 5.0)
    chat.shutdown()


def test_a_transcript_becomes_a_prefilled_run_in_two_clicks(qtbot, window, tmp_path):
    from core.transcribe import Segment, Transcript
    from tests.gui.test_training_data import finetune_page, ok_starts_the_run, recording_trainer

    seen = []
    with qtbot.waitSignal(window.ctx.models.changed, timeout=30_000):
        window.ctx.models.refresh()
    finetune = finetune_page(window, recording_trainer(tmp_path, seen))
    window.show_page("transcribe")
    transcribe = window.page("transcribe")
    kept_row(qtbot, transcribe, Transcript(
        str(tmp_path / "lecture.wav"), 400.0,
        [Segment(i * 4.0, i * 4.0 + 4.0, f"Item {i} of the lecture is about topic {i % 7}.")
         for i in range(100)], "en", 1.0, "faster-whisper", "tiny.en"))
    with qtbot.waitSignal(window.ctx.links.train_on, timeout=10_000):
        qtbot.mouseClick(transcribe.summary.train_button, Qt.LeftButton)  # click 1
    dlg = finetune.dialog
    assert window.current_page() == "finetune" and dlg is not None and dlg.isVisible()
    corpus = window.ctx.home.root / "training-data" / "lecture.txt"
    assert dlg.form.task.currentData() == "causal-lm"
    assert dlg.form.data_files() == (str(corpus),)
    ok_starts_the_run(qtbot, finetune, dlg)  # click 2: the real data check accepts it
    assert seen[0].task == "causal-lm" and seen[0].data == (str(corpus),)
