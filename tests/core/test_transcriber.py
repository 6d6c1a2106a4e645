"""The Transcriber engine with a fake backend (no weights): its lock, its checks, closing, and
the out-of-memory mapping of both backends."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled, ModelUnavailable, OutOfMemory
from core.events import Done, Progress
from core.transcribe import Segment, TranscribeOptions, Transcriber, Transcript
from core.transcribe.types import ResolvedModel, model_key

AUDIO = np.zeros(16_000 * 2, dtype=np.float32)  # 2 s


class FakeBackend:
    """Records when each job enters and leaves the model; each job takes ``seconds``."""

    name = "faster-whisper"

    def __init__(self, seconds: float = 0.3) -> None:
        self.seconds = seconds
        self.log: list[tuple[str, str]] = []
        self.closed = False
        self.log_lock = threading.Lock()

    def transcribe(self, audio, options, cancel):
        tag = options.initial_prompt or "?"
        with self.log_lock:
            self.log.append(("enter", tag))
        try:
            for i in range(3):
                time.sleep(self.seconds / 3)
                cancel.raise_if_cancelled()
                yield Segment(float(i), i + 0.5, f"{tag} {i}")
                yield Progress("Transcribing", i + 1.0, 2.0)
            yield Done(result="en")
        finally:
            with self.log_lock:
                self.log.append(("exit", tag))

    def close(self, wait: bool = True) -> None:
        self.closed = True


def make(backend=None, device="auto") -> Transcriber:
    resolved = ResolvedModel("faster-whisper", "/models/fake", "Fake whisper")
    return Transcriber(backend or FakeBackend(), resolved, "cpu",
                       model_key("faster-whisper", None, device))


def job(transcriber, tag, results, cancel=None):
    options = TranscribeOptions(initial_prompt=tag)
    events = []
    try:
        for ev in transcriber.transcribe(f"{tag}.wav", options, cancel or CancelToken(),
                                         audio=AUDIO):
            events.append(ev)
    except BaseException as exc:
        events.append(exc)
    results[tag] = events


def test_two_jobs_on_one_engine_run_one_after_the_other():
    backend = FakeBackend()
    transcriber = make(backend)
    results: dict = {}
    threads = [threading.Thread(target=job, args=(transcriber, tag, results)) for tag in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # without the lock the two jobs interleave: enter a, enter b, exit a, exit b
    kinds = [k for k, _tag in backend.log]
    assert kinds == ["enter", "exit", "enter", "exit"], backend.log
    assert backend.log[0][1] == backend.log[1][1] != backend.log[2][1] == backend.log[3][1]
    for tag in "ab":
        done = results[tag][-1]
        assert isinstance(done, Done) and isinstance(done.result, Transcript)
        assert [s.text for s in done.result.segments] == [f"{tag} {i}" for i in range(3)]
        assert done.result.language == "en" and done.result.model == "Fake whisper"
    second = backend.log[2][1]
    assert any(isinstance(e, Progress) and e.stage == "Waiting for the model"
               for e in results[second])
    assert not transcriber.busy


def test_a_job_waiting_for_the_model_can_be_cancelled():
    backend = FakeBackend(seconds=3.0)
    transcriber = make(backend)
    results: dict = {}
    first = threading.Thread(target=job, args=(transcriber, "a", results))
    first.start()
    while not backend.log:
        time.sleep(0.01)
    cancel = CancelToken()
    waiting = threading.Thread(target=job, args=(transcriber, "b", results, cancel))
    waiting.start()
    time.sleep(0.3)
    cancel.cancel()
    started = time.perf_counter()
    waiting.join(5)
    assert time.perf_counter() - started < 1.0  # not after the first job's 3 s
    assert isinstance(results["b"][-1], Cancelled)
    assert ("enter", "b") not in backend.log
    first.join(10)
    assert isinstance(results["a"][-1], Done)


def test_a_cancelled_job_releases_the_model():
    transcriber = make()
    cancel = CancelToken()
    gen = transcriber.transcribe("a.wav", TranscribeOptions(), cancel, audio=AUDIO)
    next(gen)
    cancel.cancel()
    with pytest.raises(Cancelled):
        list(gen)
    assert not transcriber.busy
    events = list(transcriber.transcribe("b.wav", TranscribeOptions(), CancelToken(),
                                         audio=AUDIO))
    assert isinstance(events[-1], Done)


def test_serves_only_the_model_it_loaded():
    transcriber = make(device="auto")
    assert transcriber.serves(TranscribeOptions(beam_size=1, language="fr", task="translate"))
    assert transcriber.serves(TranscribeOptions(model="whisper-base"))  # the default, named
    for other in (TranscribeOptions(model="whisper-tiny.en"), TranscribeOptions(device="cpu"),
                  TranscribeOptions(language="en"),  # English: the English-only default
                  TranscribeOptions(engine="openai-whisper")):
        assert not transcriber.serves(other)
        with pytest.raises(BadInput):
            list(transcriber.transcribe("a.wav", other, CancelToken(), audio=AUDIO))


def test_close_frees_the_backend_and_a_closed_engine_refuses_work():
    backend = FakeBackend()
    transcriber = make(backend)
    transcriber.close()
    assert backend.closed and not transcriber.alive
    assert not transcriber.serves(TranscribeOptions())
    with pytest.raises(ModelUnavailable):
        list(transcriber.transcribe("a.wav", TranscribeOptions(), CancelToken(), audio=AUDIO))
    assert not transcriber.busy


def test_out_of_memory_is_recognised_for_both_backends():
    from core.transcribe.faster import typed_engine_error
    from core.transcribe.openai_child import child_error

    for exc in (MemoryError(), RuntimeError("CUDA failed with error out of memory")):
        assert isinstance(typed_engine_error(exc, "faster-whisper"), OutOfMemory)
        assert child_error(exc, "loading", "tiny.en")[0] == "OutOfMemory"
    assert not isinstance(typed_engine_error(RuntimeError("shape mismatch"), "x"), OutOfMemory)
