"""Live transcription fed from a real recording at real-time speed: the JFK sentence comes out,
text arrives before the recording ends, and Stop keeps every sample heard."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.cancel import CancelToken
from core.errors import Cancelled, DeviceUnavailable
from core.events import Done
from core.transcribe import Segment, TranscribeOptions, decode, open_transcriber
from core.transcribe.live import FileStream, LiveOptions, Tentative, Utterances, live

TINY = TranscribeOptions(model="whisper-tiny.en", device="cpu")
JFK = ("And so, my fellow Americans, ask not what your country can do for you, ask what you can "
       "do for your country.")


@pytest.fixture(scope="module")
def tiny():
    *_, done = open_transcriber(None, TINY.model_id, "cpu", CancelToken())
    yield done.result
    done.result.close(wait=True)


@pytest.fixture(scope="module")
def jfk(shared_eval):
    return decode(shared_eval / "speech" / "jfk.flac")


def wer(ref: str, hyp: str) -> float:
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    return jiwer.wer(norm(ref), norm(hyp))


def run_live(tiny, audio, tmp_path, stop_when, cancel=None):
    """Feed ``audio`` at real time; ``stop_when(stream)`` (polled) sets Stop. Returns the events
    with their arrival times (monotonic) and the stream."""
    streams: list[FileStream] = []
    stop = CancelToken()

    def stopper():
        while not streams or not stop_when(streams[0]):
            time.sleep(0.005)
        stop.cancel()

    watcher = threading.Thread(target=stopper)
    watcher.start()
    events = []
    try:
        for ev in live(tiny, TINY, stop, cancel or CancelToken(), tmp_path,
                       stream_factory=FileStream.factory(audio, streams=streams)):
            events.append((time.monotonic(), ev))
    finally:
        stop.cancel()
        watcher.join()
    return events, streams[0]


def test_live_hears_the_jfk_sentence_while_it_is_spoken(tiny, jfk, tmp_path):
    events, stream = run_live(tiny, jfk, tmp_path, lambda s: s.finished_at is not None)
    done = events[-1][1]
    assert isinstance(done, Done)
    transcript = done.result.transcript
    assert wer(JFK, transcript.text) <= 0.25, transcript.text
    texts = [(t, ev) for t, ev in events if isinstance(ev, (Segment, Tentative)) and ev.text]
    assert texts and texts[0][0] < stream.finished_at  # text came while the file still played
    finals = [ev for _, ev in events if isinstance(ev, Segment)]
    assert finals == transcript.segments and len(finals) >= 2
    assert [s.start for s in finals] == sorted(s.start for s in finals)
    assert all(0 <= s.start <= s.end <= 11.1 for s in finals)
    import soundfile

    saved, rate = soundfile.read(done.result.recording.path, dtype="float32")
    assert rate == 16_000 and len(saved) == len(jfk)
    assert np.abs(saved - jfk).max() < 1 / 8192  # 16-bit PCM of the same samples


def test_stop_keeps_all_audio_heard_and_transcribes_the_queued_tail(tiny, jfk, tmp_path):
    """Stop comes at 8.5 s, mid-utterance, while audio is still queued behind a transcription:
    every delivered sample is saved and the words up to the stop are in the transcript."""
    events, stream = run_live(tiny, jfk, tmp_path, lambda s: s.delivered >= int(8.5 * 16_000))
    done = events[-1][1]
    saved = done.result.recording
    assert saved.duration * 16_000 == pytest.approx(stream.delivered, abs=1)
    assert stream.delivered < len(jfk)
    text = done.result.transcript.text.lower()
    assert "fellow americans" in text and "your country" in text


def test_cancel_discards_the_recording(tiny, jfk, tmp_path):
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        run_live(tiny, jfk, tmp_path / "out",
                 lambda s: s.delivered >= 3 * 16_000 and (cancel.cancel() or True), cancel)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_no_microphone_gives_the_same_message_as_record(tiny, tmp_path, monkeypatch):
    import importlib

    from core.transcribe import record

    record_module = importlib.import_module("core.transcribe.record")  # the function shadows it

    class NoDevices:
        def query_devices(self, kind=None):
            raise RuntimeError("no input device")

    monkeypatch.setattr(record_module, "_sounddevice", lambda: NoDevices())
    with pytest.raises(DeviceUnavailable) as recorded:
        list(record(CancelToken(), CancelToken(), tmp_path))
    with pytest.raises(DeviceUnavailable) as heard:
        list(live(tiny, TINY, CancelToken(), CancelToken(), tmp_path))
    assert heard.value.user_message() == recorded.value.user_message()
    assert "microphone" in heard.value.user_message().lower()


def test_utterances_start_and_end_with_speech(jfk):
    """Silence, the JFK recording, silence: utterances lie within the speech, and the last one
    ends by the silence after it."""
    quiet = np.zeros(16_000 * 2, dtype=np.float32)
    audio = np.concatenate([quiet, jfk, quiet])
    vad = Utterances(LiveOptions())
    found = []
    for end in range(0, len(audio) + 1600, 1600):  # fed in 0.1 s blocks
        found += vad.feed(audio[:end])
    assert found and vad.start is None
    assert found[0][0] >= 1.5 * 16_000 and found[-1][1] <= len(audio) - 0.5 * 16_000
    assert all(a < b for a, b in found)
