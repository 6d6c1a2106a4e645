import threading
import time

import numpy as np
import pytest
import soundfile

from core.cancel import CancelToken
from core.errors import Cancelled, DeviceUnavailable
from core.events import Done
from core.transcribe import Level, check_input_device, record


class Mic:
    def __init__(self, samplerate, callback):
        self.sr, self.cb, self.stop = samplerate, callback, threading.Event()

    def __enter__(self):
        def run():
            while not self.stop.is_set():
                self.cb(np.full((320, 1), 0.25, dtype=np.float32), 320, None, None)
                time.sleep(0.02)

        self.t = threading.Thread(target=run, daemon=True)
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join()


def test_record_until_stopped_writes_a_wav(tmp_path):
    stop, cancel = CancelToken(), CancelToken()
    levels, done = [], None
    for ev in record(stop, cancel, tmp_path, stream_factory=Mic):
        if isinstance(ev, Level):
            levels.append(ev)
            if ev.elapsed >= 0.5:
                stop.cancel()
        elif isinstance(ev, Done):
            done = ev.result
    assert levels and abs(levels[-1].rms - 0.25) < 1e-3 and levels[-1].peak == pytest.approx(0.25)
    audio, sr = soundfile.read(done.path)
    assert sr == 16000 and done.duration >= 0.5 and len(audio) == int(done.duration * 16000)


def test_cancel_discards(tmp_path):
    stop, cancel = CancelToken(), CancelToken()
    gen = record(stop, cancel, tmp_path / "rec", stream_factory=Mic)
    next(gen)
    cancel.cancel()
    with pytest.raises(Cancelled):
        list(gen)
    assert not (tmp_path / "rec").exists() or not list((tmp_path / "rec").iterdir())


def test_a_broken_stream_is_a_device_error(tmp_path):
    def broken(sr, cb):
        raise RuntimeError("Invalid number of channels")

    with pytest.raises(DeviceUnavailable, match="Cannot open the microphone"):
        list(record(CancelToken(), CancelToken(), tmp_path, stream_factory=broken))


def test_no_input_device_is_reported_clearly():
    import sounddevice

    try:
        sounddevice.query_devices(kind="input")
    except Exception:
        with pytest.raises(DeviceUnavailable, match="No microphone found"):
            check_input_device()
    else:
        assert check_input_device()
