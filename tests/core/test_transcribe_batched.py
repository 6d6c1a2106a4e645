"""Long files through faster-whisper's batched pipeline: chosen by length, the same words as the
sequential pipeline (within 1 WER point), word timings kept, progress and cancel still work."""
from __future__ import annotations

import csv
import time
from dataclasses import replace

import pytest

from core.cancel import CancelToken
from core.errors import Cancelled
from core.events import Done, Progress
from core.transcribe import Segment, TranscribeOptions, open_transcriber, transcribe_file
from core.transcribe.faster import BATCH_MIN_SECONDS

TINY = TranscribeOptions(model="whisper-tiny.en", device="cpu")


@pytest.fixture(scope="module")
def tiny():
    *_, done = open_transcriber(None, TINY.model_id, "cpu", CancelToken())
    yield done.result
    done.result.close(wait=True)


def reference(shared_eval, name: str) -> str:
    with open(shared_eval / "speech" / "transcripts.tsv", encoding="utf-8", newline="") as f:
        return {r["filename"]: r["reference"]
                for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}[name]


def wer(ref: str, hyp: str) -> float:
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    return 100 * jiwer.wer(norm(ref), norm(hyp))


def run(path, options, transcriber):
    events = list(transcribe_file(path, options, CancelToken(), transcriber))
    assert isinstance(events[-1], Done)
    return events, events[-1].result


def test_short_clips_go_sequential_and_long_files_batched(shared_eval, tiny):
    """jfk (11 s) stays on the sequential pipeline; a file past one window uses the batched one,
    with word timings and progress up to its end."""
    backend = tiny.backend
    run(shared_eval / "speech" / "jfk.flac", TINY, tiny)
    assert backend._batched is None  # the batched pipeline was never made
    path = shared_eval / "speech" / "sonnet001.mp3"  # 53 s
    events, t = run(path, replace(TINY, word_timestamps=True), tiny)
    assert t.duration > BATCH_MIN_SECONDS and backend._batched is not None
    words = [w for s in t.segments for w in s.words]
    assert len(words) > 80 and all(0 <= w.start <= w.end <= t.duration + 0.5 for w in words)
    steps = [e for e in events if isinstance(e, Progress) and e.stage == "Transcribing"]
    assert steps[0].done == 0 and steps[-1].done == pytest.approx(t.duration)
    assert wer(reference(shared_eval, path.name), t.text) < 25


@pytest.mark.slow
def test_batched_is_never_a_wer_point_worse_than_sequential(shared_eval, tiny):
    """The issue asks that the two agree within 1 WER point. Measured on this file with tiny.en:
    batched 9.32 %, sequential 10.73 % (1.41 points, 5 of 354 words, in batched's favour: the
    sequential pipeline's own errors); with base +0.28 (bench/transcribe.py). So: batched at most
    1 point worse, and the two within 1.5 points either way."""
    path = shared_eval / "speech" / "sonnets_001-003_long.mp3"
    ref = reference(shared_eval, path.name)
    _, batched = run(path, replace(TINY, batched=True), tiny)
    _, sequential = run(path, replace(TINY, batched=False), tiny)
    b, s = wer(ref, batched.text), wer(ref, sequential.text)
    assert b <= s + 1.0 and abs(b - s) <= 1.5, (b, s)


def test_a_cancelled_batched_job_ends_at_once_and_the_model_stays_usable(shared_eval, tiny,
                                                                        monkeypatch):
    """158 s make two batches of four 30 s chunks: after a cancel the second is never encoded."""
    model = tiny.backend.model
    encode, encoded = model.encode, []

    def counted(features):  # counts the batches that were encoded (not those refused)
        out = encode(features)
        encoded.append(len(features))
        return out

    monkeypatch.setattr(model, "encode", counted)
    cancel = CancelToken()
    set_at = None
    with pytest.raises(Cancelled):
        for ev in transcribe_file(shared_eval / "speech" / "sonnets_001-003_long.mp3",
                                  replace(TINY, batched=True), cancel, tiny):
            if isinstance(ev, Progress) and ev.stage == "Transcribing" and set_at is None:
                set_at = time.perf_counter()
                cancel.cancel()
            assert not isinstance(ev, Segment) or set_at is None
    assert time.perf_counter() - set_at < 2.0
    assert tiny.backend.wait_idle(60)  # the batch in flight ends, the rest never starts
    assert len(encoded) <= 1, encoded
    _, t = run(shared_eval / "speech" / "jfk.flac", TINY, tiny)
    assert "country" in t.text


def test_a_failed_chunk_is_decoded_again_by_the_sequential_pipeline(shared_eval, tiny,
                                                                    monkeypatch):
    """The batched pipeline has no temperature fallback: a chunk that fails faster-whisper's own
    checks is decoded again sequentially over the same span of the file. Here every chunk is
    taken as failed (the check itself is tested below): the transcript comes from the sequential
    pipeline, clip by clip, with times inside each chunk and the words still right."""
    from core.transcribe import faster

    chunks = []

    def every_chunk_failed(segment):
        chunks.append((segment.start, segment.end))
        return True

    monkeypatch.setattr(faster, "failed_chunk", every_chunk_failed)
    path = shared_eval / "speech" / "sonnet001.mp3"  # 53 s: batched
    _, t = run(path, replace(TINY, word_timestamps=True), tiny)
    assert len(chunks) >= 2
    assert all(any(a - 0.01 <= s.start and s.end <= b + 0.5 for a, b in chunks)
               for s in t.segments)
    assert len(t.segments) > len(chunks)  # sequential windows split at its timestamp tokens
    assert all(s.words for s in t.segments if s.text)
    assert wer(reference(shared_eval, path.name), t.text) < 25


def test_the_failed_chunk_check_uses_faster_whisper_s_own_thresholds():
    from types import SimpleNamespace

    from core.transcribe.faster import failed_chunk

    def chunk(ratio, logprob):
        return SimpleNamespace(compression_ratio=ratio, avg_logprob=logprob)

    assert not failed_chunk(chunk(1.6, -0.4))
    assert failed_chunk(chunk(3.6, -0.6))  # "What no no no no ..." on development speech
    assert failed_chunk(chunk(1.5, -1.3))  # too unlikely
    assert not failed_chunk(chunk(2.4, -1.0))  # at the limits: kept, as faster-whisper keeps it
