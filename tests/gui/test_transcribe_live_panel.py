"""Live mode and the new options on the Transcribe page, with the real tiny.en and jfk.flac played
at real time as the microphone."""
from __future__ import annotations

import pytest

from tests.conftest import SHARED_EVAL


def make_panel(qtbot, window, **kw):
    from gui.panels.transcribe import TranscribePanel

    panel = TranscribePanel(window.ctx, **kw)
    qtbot.addWidget(panel)
    panel.resize(1100, 760)
    panel.show()
    return panel


def pick_model(panel, model_id: str) -> None:
    box = panel.options_box
    idx = box.model.findData(model_id)
    assert idx >= 0, [box.model.itemData(i) for i in range(box.model.count())]
    box.model.setCurrentIndex(idx)


def test_translate_is_disabled_with_a_tooltip_for_english_only_models(qtbot, window):
    panel = make_panel(qtbot, window)
    panel.set_models(window.ctx.registry.entries())
    box = panel.options_box
    translate = box.task.model().item(box.task.findData("translate"))
    pick_model(panel, "whisper-base")
    box.task.setCurrentIndex(box.task.findData("translate"))
    assert translate.isEnabled()
    pick_model(panel, "whisper-tiny.en")
    assert not translate.isEnabled() and "English-only" in translate.toolTip()
    assert box.task.currentData() == "transcribe"  # switched back
    box.language.setCurrentIndex(box.language.findData("de"))
    with pytest.raises(Exception, match="English-only"):
        panel.options().validate()


def test_an_english_only_model_offers_neither_detect_nor_other_languages(qtbot, window):
    panel = make_panel(qtbot, window)
    panel.set_models(window.ctx.registry.entries())
    box = panel.options_box
    detect = box.language.model().item(box.language.findData(None))
    german = box.language.model().item(box.language.findData("de"))
    pick_model(panel, "whisper-base")
    box.language.setCurrentIndex(box.language.findData(None))
    assert detect.isEnabled() and german.isEnabled()
    pick_model(panel, "whisper-tiny.en")
    assert not detect.isEnabled() and not german.isEnabled()
    assert box.language.currentData() == "en" and "English-only" in box.language.toolTip()
    pick_model(panel, "whisper-base")
    assert detect.isEnabled() and german.isEnabled()


def test_live_mode_shows_text_while_speaking_and_stop_makes_a_finished_row(qtbot, window,
                                                                           tmp_path):
    if not SHARED_EVAL.is_dir():
        pytest.skip("../shared/eval is not here")
    from core.transcribe import decode
    from core.transcribe.live import FileStream

    audio = decode(SHARED_EVAL / "speech" / "jfk.flac")
    streams = []
    panel = make_panel(qtbot, window,
                       live_stream_factory=FileStream.factory(audio, streams=streams))
    panel.set_models(window.ctx.registry.entries())
    pick_model(panel, "whisper-tiny.en")
    panel.live.button.click()
    qtbot.waitUntil(lambda: panel.live.job is not None, timeout=60_000)
    assert panel.items[0].status == "Live" and panel.shown is panel.items[0]
    # generous times: the timing itself is checked in tests/core/test_transcribe_live.py
    qtbot.waitUntil(lambda: panel.segments.rowCount() >= 1, timeout=120_000)
    qtbot.waitUntil(lambda: streams[0].finished_at is not None, timeout=120_000)
    panel.live.button.click()  # stop: everything heard is kept
    assert panel.live.button.text() == "Finishing…"
    qtbot.waitUntil(lambda: panel.live.job is None, timeout=180_000)
    assert panel.items[0].status == "Done", (panel.items[0].status, panel.items[0].error)
    item = panel.items[0]
    assert item.path.endswith(".wav") and "recordings" in item.path
    assert "your country" in item.transcript.text.lower()
    assert panel.queue.item(0, 0).text().startswith("live-")
    assert not panel.viewer.tentative
    assert panel.live.button.text() == "◉ Live"
    qtbot.waitUntil(lambda: item.saved is not None, timeout=10_000)  # kept, as every finished row
    from core.transcribe import load_transcript

    assert "your country" in load_transcript(item.saved)[0].text.lower()
    with qtbot.waitSignal(panel.exported, timeout=10_000):
        panel.export_current("srt", str(tmp_path / "live.srt"))
    assert "your country" in " ".join((tmp_path / "live.srt").read_text().split())
