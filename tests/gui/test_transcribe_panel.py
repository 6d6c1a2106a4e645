"""Transcribe panel with the real bundled tiny.en on short generated speech."""
import threading
import time

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent


def make_panel(qtbot, window, **kw):
    from gui.panels.transcribe import TranscribePanel

    panel = TranscribePanel(window.ctx, **kw)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    return panel


def drop(panel, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    panel.dropEvent(event)


def wait_idle(qtbot, panel, timeout=120_000):
    qtbot.waitUntil(lambda: panel.items and all(i.finished for i in panel.items)
                    and panel.current is None, timeout=timeout)


def test_dropping_two_files_makes_two_rows_and_both_finish(qtbot, window, speech_wavs):
    panel = make_panel(qtbot, window)
    loads = []
    panel.session.loaded.connect(loads.append)
    drop(panel, speech_wavs)
    assert panel.queue.rowCount() == 2
    wait_idle(qtbot, panel)
    assert [i.status for i in panel.items] == ["Done", "Done"]
    for row, item in enumerate(panel.items):
        assert panel.queue.item(row, 4).text()  # RTF shown
        assert panel.queue.cellWidget(row, 3).value() == 1000
        assert item.transcript.duration > 1.0
    assert "today" in panel.items[0].transcript.text.lower()
    assert len(loads) == 1 and loads[0] is panel.session.model  # one load for both files
    panel.queue.selectRow(1)
    assert panel.segments.rowCount() >= 1
    assert "tomorrow" in " ".join(panel.segments.item(r, 2).text().lower()
                                  for r in range(panel.segments.rowCount()))


def test_a_bad_file_fails_in_its_row_and_the_queue_goes_on(qtbot, window, speech_wavs, tmp_path):
    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 10)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    panel = make_panel(qtbot, window)
    panel.add_files([str(corrupt), str(text), str(speech_wavs[0])])
    wait_idle(qtbot, panel)
    statuses = [i.status for i in panel.items]
    assert statuses == ["Failed", "Failed", "Done"]
    assert "broken.wav" in panel.queue.item(0, 2).text()
    assert "Unsupported file type" in panel.queue.item(1, 2).text()


def test_export_and_edit(qtbot, window, speech_wavs, tmp_path):
    panel = make_panel(qtbot, window)
    panel.add_files([str(speech_wavs[0])])
    wait_idle(qtbot, panel)
    panel.queue.selectRow(0)
    panel.segments.item(0, 2).setText("Edited by hand.")
    with qtbot.waitSignal(panel.exported, timeout=10_000) as written:
        panel.export_current("srt", str(tmp_path / "out.srt"))
    srt = written.args[0].read_text()
    assert "Edited by hand." in srt and "-->" in srt
    window.ctx.settings.set("transcribe/export_dir", str(tmp_path / "exports"))
    (tmp_path / "exports").mkdir()
    with qtbot.waitSignal(panel.exported, timeout=10_000) as written:
        panel.export_current("vtt")
    path = written.args[0]
    assert path.parent == tmp_path / "exports" and path.read_text().startswith("WEBVTT")


def test_a_corrected_segment_is_kept_on_disk_and_shown_after_a_restart(qtbot, window,
                                                                        speech_wavs):
    from core.transcribe import load_transcript

    panel = make_panel(qtbot, window)
    panel.add_files([str(speech_wavs[0])])
    wait_idle(qtbot, panel)
    panel.queue.selectRow(0)
    path = panel.kept.path_for(panel.items[0])
    panel.segments.item(0, 2).setText("Corrected by hand.")
    qtbot.waitUntil(lambda: load_transcript(path)[0].segments[0].text == "Corrected by hand.",
                    timeout=10_000)
    panel.segments.item(0, 2).setText("Corrected again.")
    panel.shutdown()  # the app quits before the second correction's write was due
    assert load_transcript(path)[0].segments[0].text == "Corrected again."
    again = make_panel(qtbot, window)  # the page of the next start reads the kept rows back
    qtbot.waitUntil(lambda: len(again.items) == 1, timeout=10_000)
    assert again.items[0].transcript.segments[0].text == "Corrected again."


def test_search_hides_other_segments(qtbot, window, speech_wavs):
    from core.transcribe import Segment, Transcript
    from gui.panels.transcribe import QueueItem

    panel = make_panel(qtbot, window)
    item = QueueItem("x.wav", status="Done", transcript=Transcript(
        "x.wav", 4.0, [Segment(0, 1, "alpha beta"), Segment(1, 2, "gamma"), Segment(2, 3, "Beta")]))
    panel.items.append(item)
    panel._show_transcript(item)
    panel.search.setText("beta")
    assert [panel.segments.isRowHidden(r) for r in range(3)] == [False, True, False]


class FakeMicrophone:
    """Stands in for sounddevice.InputStream: calls back with a 440 Hz tone every 20 ms."""

    def __init__(self, samplerate, callback):
        self.samplerate, self.callback = samplerate, callback
        self._stop = threading.Event()

    def __enter__(self):
        def run():
            t = 0
            while not self._stop.is_set():
                n = self.samplerate // 50
                x = 0.3 * np.sin(2 * np.pi * 440 * (np.arange(n) + t) / self.samplerate)
                self.callback(x.astype(np.float32)[:, None], n, None, None)
                t += n
                time.sleep(0.02)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def test_recording_with_a_fake_microphone_then_transcribes(qtbot, window):
    panel = make_panel(qtbot, window, stream_factory=FakeMicrophone)
    panel.record_button.click()
    assert panel.level.isVisible()
    qtbot.waitUntil(lambda: panel.level.value() > 20, timeout=5000)
    qtbot.waitUntil(lambda: panel.record_label.text() == "0:01", timeout=5000)
    panel.record_button.click()  # stop: the recording joins the queue
    qtbot.waitUntil(lambda: len(panel.items) == 1, timeout=10_000)
    assert panel.items[0].path.endswith(".wav") and "recordings" in panel.items[0].path
    wait_idle(qtbot, panel)
    assert panel.items[0].status == "Done"
    assert panel.items[0].transcript.duration >= 1.0


def test_no_microphone_says_so(qtbot, window):
    import sounddevice

    try:
        sounddevice.query_devices(kind="input")
        has_input = True
    except Exception:
        has_input = False
    if has_input:
        import pytest

        pytest.skip("this machine has a microphone; the no-device message cannot be shown")
    panel = make_panel(qtbot, window)
    panel.record_button.click()
    qtbot.waitUntil(lambda: panel.record_job is None, timeout=10_000)
    assert window.notify.isVisible() and "No microphone found" in window.notify.text.text()
    assert panel.record_button.text() == "● Record"


# ---- the page keeps one loaded model (a fake engine: no weights) -----------------------------
class FakeBackend:
    name = "faster-whisper"

    def __init__(self):
        self.closed = False
        self.files = 0

    def transcribe(self, audio, options, cancel):
        from core.events import Done, Progress
        from core.transcribe import Segment

        self.files += 1
        yield Segment(0.0, 0.5, f"file {self.files}")
        yield Progress("Transcribing", len(audio) / 16_000, len(audio) / 16_000)
        yield Done(result="en")

    def close(self, wait=True):
        self.closed = True


class FakeOpener:
    """Stands in for open_transcriber: a Transcriber over a FakeBackend per call."""

    def __init__(self, load_seconds=0.0):
        self.calls = []
        self.backends = []
        self.load_seconds = load_seconds

    def __call__(self, registry, model_id, device, cancel, engine):
        from core.events import Done, Progress
        from core.transcribe import Transcriber
        from core.transcribe.types import ResolvedModel, model_key

        self.calls.append((engine, model_id, device))
        yield Progress("Loading model", 0, None, str(model_id))
        deadline = time.monotonic() + self.load_seconds
        while time.monotonic() < deadline:
            cancel.raise_if_cancelled()
            time.sleep(0.01)
        backend = FakeBackend()
        self.backends.append(backend)
        yield Done(result=Transcriber(backend, ResolvedModel(engine, "/fake", "Fake"), "cpu",
                                      model_key(engine, model_id, device)))


def test_the_page_keeps_one_model_across_files(qtbot, window, speech_wavs):
    opener = FakeOpener()
    panel = make_panel(qtbot, window, opener=opener)
    panel.add_files([str(speech_wavs[0])])
    wait_idle(qtbot, panel)
    first = panel.session.model
    panel.add_files([str(speech_wavs[1])])  # a second file later: the model is still there
    wait_idle(qtbot, panel)
    assert [i.status for i in panel.items] == ["Done", "Done"]
    assert len(opener.calls) == 1
    assert panel.session.model is first and first.alive
    assert [i.transcript.text for i in panel.items] == ["file 1", "file 2"]
    assert opener.backends[0].files == 2


def test_another_model_is_loaded_and_the_old_one_freed(qtbot, window, speech_wavs):
    opener = FakeOpener()
    panel = make_panel(qtbot, window, opener=opener)
    panel.add_files([str(speech_wavs[0])])
    wait_idle(qtbot, panel)
    panel.options_box.beam.setValue(2)  # decoding option: same model
    panel.add_files([str(speech_wavs[0])])
    wait_idle(qtbot, panel)
    assert len(opener.calls) == 1
    panel.options_box.engine.setCurrentIndex(panel.options_box.engine.findData("openai-whisper"))
    panel.add_files([str(speech_wavs[1])])
    wait_idle(qtbot, panel)
    assert [c[0] for c in opener.calls] == ["faster-whisper", "openai-whisper"]
    assert opener.backends[0].closed and not opener.backends[1].closed
    assert panel.session.model.engine == "openai-whisper"
    panel.shutdown()
    assert opener.backends[1].closed and panel.session.model is None


def test_cancelling_while_the_model_loads(qtbot, window, speech_wavs):
    opener = FakeOpener(load_seconds=30)
    panel = make_panel(qtbot, window, opener=opener)
    panel.add_files([str(p) for p in speech_wavs])
    qtbot.waitUntil(lambda: panel.items[0].status == "Loading model", timeout=10_000)
    panel.cancel_all()
    wait_idle(qtbot, panel, timeout=10_000)
    assert [i.status for i in panel.items] == ["Cancelled", "Cancelled"]
    assert panel.session.model is None and len(opener.calls) == 1


def test_a_model_that_cannot_load_fails_each_row_and_the_queue_ends(qtbot, window, speech_wavs):
    from core.errors import ModelUnavailable

    calls = []

    def broken(registry, model_id, device, cancel, engine):
        calls.append(model_id)
        raise ModelUnavailable(f"'{model_id}' is nowhere to be found.")
        yield  # a generator, like open_transcriber

    panel = make_panel(qtbot, window, opener=broken)
    panel.add_files([str(p) for p in speech_wavs])
    wait_idle(qtbot, panel, timeout=10_000)
    assert [i.status for i in panel.items] == ["Failed", "Failed"]
    assert "nowhere to be found" in panel.queue.item(0, 2).text()
    assert len(calls) == 2 and panel.session.model is None
    assert not window.notify.isVisible()  # told in the rows, not twice
