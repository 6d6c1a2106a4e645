"""Transcription: both engines behind transcribe_file, exports, cancel, bad files, the CLI."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled, HubUnreachable, ModelUnavailable
from core.events import Done, Progress
from core.transcribe import (
    Segment,
    SubtitleOptions,
    TranscribeOptions,
    Transcriber,
    Transcript,
    Word,
    export,
    export_path,
    open_transcriber,
    transcribe_file,
)
from tests.conftest import ROOT

HELLO_WORD = " hello"
TINY = TranscribeOptions(model="whisper-tiny.en")  # the module's model (the default is base)


# ---- helpers and fixtures -----------------------------------------------------------------------
def run(path, options=None, transcriber=None, cancel=None):
    """All events of one transcription, and its Transcript."""
    events = list(transcribe_file(path, options or TINY, cancel or CancelToken(),
                                  transcriber))
    assert isinstance(events[-1], Done), events[-1]
    assert isinstance(events[-1].result, Transcript)
    return events, events[-1].result


def reference(shared_eval: Path, name: str) -> str:
    with open(shared_eval / "speech" / "transcripts.tsv", encoding="utf-8", newline="") as f:
        rows = {r["filename"]: r["reference"]
                for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}
    return rows[name]


def wer(ref: str, hyp: str) -> float:
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    return jiwer.wer(norm(ref), norm(hyp))


def load(options: TranscribeOptions | None = None, registry=None) -> tuple[list, Transcriber]:
    """The events of opening the model ``options`` need, and the Transcriber."""
    o = options or TINY
    events = list(open_transcriber(registry, o.model, o.device, CancelToken(), o.engine))
    assert isinstance(events[-1], Done) and isinstance(events[-1].result, Transcriber)
    return events, events[-1].result


@pytest.fixture(scope="module")
def fw():
    """One faster-whisper tiny.en (the bundled pack) for the module's quality tests."""
    _events, transcriber = load()
    yield transcriber
    transcriber.close()


@pytest.fixture(scope="module")
def jfk_transcript(shared_eval, fw) -> Transcript:
    return run(shared_eval / "speech" / "jfk.flac", transcriber=fw)[1]


@pytest.fixture(scope="module")
def jfk_with_words(shared_eval, fw) -> Transcript:
    return run(shared_eval / "speech" / "jfk.wav", replace(TINY, word_timestamps=True),
               transcriber=fw)[1]


@pytest.fixture(scope="session")
def hello_whisper_pt(tmp_path_factory) -> Path:
    """A tiny openai-whisper checkpoint (random encoder) whose decoder is wired to say "hello":
    every 30 s window decodes to <|0.00|> " hello" <|endoftext|>, so the engine runs end to end in
    seconds with no temperature fallbacks, and the text is something a test can check.

    The decoder's blocks are zeroed (the residual stream is the token embedding), the final
    layer norm flips the sign of half the dimensions, and the tied embeddings of SOT, <|0.00|>,
    " hello" and EOT are set so that SOT -> <|0.00|> (timestamps are forced first), <|0.00|> ->
    " hello", " hello" -> EOT. Random weights everywhere else, from a fixed seed.
    """
    from dataclasses import asdict

    import torch
    from whisper.model import ModelDimensions, Whisper
    from whisper.tokenizer import get_tokenizer

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2,
                           n_audio_layer=2, n_vocab=51864, n_text_ctx=448, n_text_state=64,
                           n_text_head=2, n_text_layer=2)  # n_vocab 51864: English-only
    model = Whisper(dims)
    tok = get_tokenizer(multilingual=False)
    (word,) = tok.encode(HELLO_WORD)
    d, half = dims.n_text_state, dims.n_text_state // 2
    v = torch.randn(d)
    for part in (slice(0, half), slice(half, d)):  # zero-mean halves of equal norm
        v[part] -= v[part].mean()
        v[part] /= v[part].norm()
    v /= v.norm()
    flip = torch.cat([torch.ones(half), -torch.ones(half)])
    dec = model.decoder
    with torch.no_grad():
        dec.token_embedding.weight.normal_(0, 0.02)
        dec.positional_embedding.zero_()  # torch.empty in whisper: never leave it uninitialised
        for block in dec.blocks:
            for lin in (block.attn.out, block.cross_attn.out, block.mlp[2]):
                lin.weight.zero_()
                if lin.bias is not None:
                    lin.bias.zero_()
        dec.ln.weight.copy_(flip)
        dec.ln.bias.zero_()
        emb = dec.token_embedding.weight
        emb[tok.sot] = 3 * flip * v
        emb[word] = 3 * flip * v
        emb[tok.timestamp_begin] = 1.5 * v
        emb[tok.eot] = 3 * v
    path = tmp_path_factory.mktemp("hello-whisper") / "hello-whisper.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def quiet_ten_minutes(tmp_path_factory) -> Path:
    """10 minutes of near-silence (FLAC): 20 windows, long work for any engine."""
    import numpy as np
    import soundfile as sf

    path = tmp_path_factory.mktemp("long-audio") / "quiet-ten-minutes.flac"
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(10 * 60 * 16_000) * 1e-4).astype(np.float32)
    sf.write(path, audio, 16_000, subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def tone_five_minutes(tmp_path_factory) -> Path:
    """5 minutes of a 440 Hz tone: tiny.en decodes no segment at all from it (10 windows)."""
    import numpy as np
    import soundfile as sf

    path = tmp_path_factory.mktemp("tone") / "tone.flac"
    t = np.arange(5 * 60 * 16_000) / 16_000
    sf.write(path, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000,
             subtype="PCM_16")
    return path


def openai_options(pt: Path, **kw) -> TranscribeOptions:
    return TranscribeOptions(engine="openai-whisper", model=str(pt), device="cpu", **kw)


# ---- quality (the real bundled tiny.en) ------------------------------------------------------
def test_tiny_en_transcribes_jfk_with_low_wer(shared_eval, jfk_transcript):
    t = jfk_transcript
    assert t.engine == "faster-whisper" and t.model == "Whisper tiny.en"
    assert t.language == "en"
    assert t.duration == pytest.approx(11.0, abs=0.05)
    assert 0 < t.seconds < 60 and t.rtf == pytest.approx(t.seconds / t.duration)
    assert wer(reference(shared_eval, "jfk.flac"), t.text) <= 0.05, t.text


def test_events_arrive_in_order_with_progress(shared_eval, fw):
    events, t = run(shared_eval / "speech" / "jfk.wav", transcriber=fw)
    segments = [e for e in events if isinstance(e, Segment)]
    assert segments == t.segments and len(segments) >= 1
    progress = [e for e in events if isinstance(e, Progress) and e.stage == "Transcribing"]
    assert progress[0].done == 0 and progress[-1].done == pytest.approx(t.duration)
    assert all(p.total == pytest.approx(11.0, abs=0.05) for p in progress)
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    first_segment = events.index(segments[0])
    assert any(isinstance(e, Progress) for e in events[first_segment:-1])  # progress per segment
    assert "RTF" in events[-1].summary and "jfk.wav" in events[-1].summary


# ---- exports ---------------------------------------------------------------------------------
def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_cues(text: str, *, vtt: bool) -> list[tuple[int | None, float, float, str]]:
    """A small SRT / WebVTT reader: (index, start, end, text) per cue; asserts the layout."""
    if vtt:
        assert text.startswith("WEBVTT\n\n")
        text = text[len("WEBVTT\n\n"):]
    stamp = r"(\d{2}):(\d{2}):(\d{2})" + (r"\." if vtt else ",") + r"(\d{3})"
    cues = []
    for block in [b for b in text.strip("\n").split("\n\n") if b.strip()]:
        lines = block.split("\n")
        index = None
        if not vtt:
            assert lines[0].isdigit(), block
            index = int(lines.pop(0))
        m = re.fullmatch(rf"{stamp} --> {stamp}", lines[0])
        assert m, lines[0]
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        assert len(lines) >= 2 and all(line.strip() for line in lines[1:]), block
        cues.append((index, start, end, "\n".join(lines[1:])))
    return cues


def check_cues(cues, transcript: Transcript, *, vtt: bool) -> None:
    """Cues carry every word of the transcript in order, start with its first segment, stay
    inside its time, never overlap, and keep to the default subtitle limits."""
    limits = SubtitleOptions()
    spoken = [s for s in transcript.segments if s.text.strip()]
    assert len(cues) >= len(spoken) >= 1
    if not vtt:
        assert [c[0] for c in cues] == list(range(1, len(cues) + 1))
    assert " ".join(c[3] for c in cues).split() == " ".join(s.text for s in spoken).split()
    assert cues[0][1] == pytest.approx(spoken[0].start, abs=0.0015)
    last_end = max(s.end for s in spoken)
    for (_i, start, end, text), nxt in zip(cues, cues[1:] + [None], strict=True):
        assert start <= end <= last_end + 0.0015
        assert end - start <= limits.max_duration + 0.0015
        lines = text.split("\n")
        assert len(lines) <= limits.max_lines and all(len(x) <= limits.max_chars for x in lines)
        if nxt is not None:
            assert end <= nxt[1] + 0.0015


def test_srt_and_vtt_parse_back(jfk_transcript):
    check_cues(parse_cues(export(jfk_transcript, "srt"), vtt=False), jfk_transcript, vtt=False)
    check_cues(parse_cues(export(jfk_transcript, "vtt"), vtt=True), jfk_transcript, vtt=True)


def test_srt_and_vtt_of_long_times_and_empty_segments():
    t = Transcript("long.wav", 7300.0, [
        Segment(0.0004, 1.2345, " First line."),
        Segment(2.0, 2.0, "   "),  # openai-whisper clears empty segments to "": never a cue
        Segment(3599.9996, 3725.5, "Past the hour,"),
        Segment(7199.5, 7299.999, "two hours in."),
    ])
    for fmt, vtt in (("srt", False), ("vtt", True)):
        cues = parse_cues(export(t, fmt), vtt=vtt)
        check_cues(cues, t, vtt=vtt)
        assert {0.0, 3600.0, 7199.5} <= {round(c[1], 3) for c in cues}
    # a 125 s segment without word timings: its words share the time, each cue at most 6 s
    assert "01:00:00,000 --> 01:00:06,000" in export(t, "srt")
    assert "02:00:00.000" not in export(t, "vtt") and "01:59:59.500" in export(t, "vtt")


def test_json_round_trips_with_words(jfk_with_words, tmp_path):
    t = jfk_with_words
    words = [w for s in t.segments for w in s.words]
    assert len(words) >= 20  # "And so, my fellow Americans, ask not ..." has 22
    assert all(isinstance(w, Word) and 0 <= w.start <= w.end <= t.duration + 0.5 for w in words)
    assert all(w.probability is not None and 0 <= w.probability <= 1 for w in words)
    assert "".join(w.word for w in words).strip() == " ".join(s.text for s in t.segments).strip()
    path = export_path(t, "json", tmp_path / "out")
    assert path == tmp_path / "out" / "jfk.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["segments"][0]["words"] and set(data["segments"][0]["words"][0]) == {
        "start", "end", "word", "probability"}
    back = Transcript.from_json(data)
    assert back.to_json() == t.to_json()
    assert [len(s.words) for s in back.segments] == [len(s.words) for s in t.segments]
    assert back.text == t.text and back.duration == pytest.approx(t.duration, abs=0.001)
    with pytest.raises(BadInput):
        Transcript.from_json({"nothing": 1})


def test_json_without_word_timestamps_has_no_words(jfk_transcript):
    data = json.loads(export(jfk_transcript, "json"))
    assert all(s["words"] == [] for s in data["segments"])
    assert data["rtf"] == pytest.approx(jfk_transcript.rtf, abs=1e-4)


# ---- cancel ------------------------------------------------------------------------------------
def test_cancel_mid_file_takes_effect_within_2_s(shared_eval, fw):
    """CTranslate2 cannot stop inside a 30 s window (~2.5 s of CPU on 2 cores): the window runs
    on the backend's own thread, so the generator stops at once and the thread after the window.
    The token is set from another thread, as the GUI does, while a window is being decoded;
    beam 10 with word timestamps makes a window ~3 s here, so waiting for it would fail."""
    import threading

    long_file = shared_eval / "speech" / "sonnets_001-003_long.mp3"
    options = replace(TINY, beam_size=10, word_timestamps=True, batched=False)
    run(shared_eval / "speech" / "LJ002-0020.wav", options, transcriber=fw)  # model loaded
    cancel = CancelToken()
    set_at: list[float] = []

    def cancel_now() -> None:
        set_at.append(time.perf_counter())
        cancel.cancel()

    segments = 0
    timer = None
    with pytest.raises(Cancelled):
        for ev in transcribe_file(long_file, options, cancel, fw):
            segments += isinstance(ev, Segment)
            if timer is None and isinstance(ev, Segment):
                # the first window's segments arrive together; the second window starts then
                timer = threading.Timer(0.1, cancel_now)
                timer.start()
    took = time.perf_counter() - set_at[0]
    assert took < 2.0, took
    assert segments <= 8  # at most the first window, not the 158 s (~27 segments)
    backend = fw.backend
    assert backend.wait_idle(10)  # the whole file would keep it busy for ~15 s more
    assert not fw.busy and fw.alive
    _events, t = run(shared_eval / "speech" / "jfk.wav", transcriber=fw)  # still usable
    assert fw.backend is backend and "country" in t.text


def test_cancel_without_a_transcriber_returns_at_once(shared_eval):
    """With no Transcriber, transcribe_file owns the model: a cancel must not wait for its
    window."""
    import threading

    cancel = CancelToken()
    set_at: list[float] = []
    timer = None
    with pytest.raises(Cancelled):
        for ev in transcribe_file(shared_eval / "speech" / "sonnets_001-003_long.mp3",
                                  replace(TINY, beam_size=10, word_timestamps=True, batched=False), cancel):
            if timer is None and isinstance(ev, Segment):
                timer = threading.Timer(0.1, lambda: (set_at.append(time.perf_counter()),
                                                      cancel.cancel()))
                timer.start()
    assert time.perf_counter() - set_at[0] < 2.0


def test_a_cancelled_job_stops_at_the_next_window_without_speech(fw, tone_five_minutes):
    """Windows without speech yield no segment: the runner must still stop at the next window
    instead of working through the remaining minutes (~8 s here)."""
    cancel = CancelToken()
    progress = []
    with pytest.raises(Cancelled):
        for ev in transcribe_file(tone_five_minutes, replace(TINY, batched=False), cancel, fw):
            if isinstance(ev, Progress) and ev.stage == "Transcribing":
                progress.append(ev)
                cancel.cancel()
    assert progress[0].done == 0 and progress[0].total == pytest.approx(300)
    assert fw.backend.wait_idle(4)


def test_cancel_before_start_loads_nothing(shared_eval):
    cancel = CancelToken()
    cancel.cancel()
    events = []
    with pytest.raises(Cancelled):
        for ev in transcribe_file(shared_eval / "speech" / "jfk.wav", TINY,
                                  cancel):
            events.append(ev)
    assert events == []  # not even a "Loading model"


# ---- bad input ---------------------------------------------------------------------------------
@pytest.fixture()
def bad_files(tmp_path) -> dict[str, Path]:
    rng = __import__("random").Random(0)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(bytes(rng.randrange(256) for _ in range(20_000)))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp3"
    text.write_text("This is a shopping list, not a song.\n" * 50, encoding="utf-8")
    return {"corrupt": corrupt, "empty": empty, "text": text, "missing": tmp_path / "gone.flac"}


@pytest.mark.parametrize("kind", ["corrupt", "empty", "text", "missing"])
def test_bad_files_are_bad_input_naming_the_file(bad_files, kind):
    path = bad_files[kind]
    events = []
    with pytest.raises(BadInput) as info:
        for ev in transcribe_file(path, TINY, CancelToken()):
            events.append(ev)
    assert path.name in info.value.user_message()
    assert events == []  # the file is checked before any model loads


def test_options_are_validated_before_anything(tmp_path):
    for bad in (TranscribeOptions(engine="whisper.cpp"), TranscribeOptions(task="summarise"),
                TranscribeOptions(beam_size=0)):
        with pytest.raises(BadInput):
            list(transcribe_file(tmp_path / "never-read.wav", bad, CancelToken()))


def test_wrong_model_kind_for_each_engine(shared_eval, hello_whisper_pt):
    jfk = shared_eval / "speech" / "jfk.wav"
    with pytest.raises(BadInput, match="openai-whisper checkpoint"):
        list(transcribe_file(jfk, TranscribeOptions(model=str(hello_whisper_pt)), CancelToken()))
    from core.models.registry import Registry, Task

    folder = Registry().get("whisper-tiny.en", task=Task.SPEECH_RECOGNITION).load_path
    with pytest.raises(BadInput, match="folder"):
        list(transcribe_file(jfk, openai_options(Path(folder)), CancelToken()))
    with pytest.raises(BadInput, match="not an openai-whisper checkpoint"):
        list(transcribe_file(jfk, TranscribeOptions(engine="openai-whisper",
                                                    model="whisper-tiny.en"), CancelToken()))


def test_an_unreachable_hub_model_is_a_typed_error(shared_eval):
    # offline: HubUnreachable; online: no such repository. Both say so in one sentence.
    with pytest.raises(ModelUnavailable) as info:
        list(transcribe_file(shared_eval / "speech" / "jfk.wav",
                             TranscribeOptions(model="nobody-at-all/faster-whisper-none"),
                             CancelToken()))
    assert "nobody-at-all/faster-whisper-none" in info.value.user_message()


# ---- the model is loaded once ----------------------------------------------------------------
def test_one_transcriber_serves_several_files(shared_eval):
    opened, transcriber = load()
    try:
        assert any(isinstance(e, Progress) and e.stage == "Loading model" for e in opened)
        backend = transcriber.backend
        first, _ = run(shared_eval / "speech" / "jfk.wav", transcriber=transcriber)
        other = replace(TINY, beam_size=2, language="en")  # decoding options: same model
        assert transcriber.serves(other)
        second, t = run(shared_eval / "speech" / "LJ002-0020.wav", other, transcriber)
        assert transcriber.backend is backend
        assert not any(isinstance(e, Progress) and e.stage == "Loading model"
                       for e in first + second)
        assert t.duration == pytest.approx(1.54, abs=0.05)
    finally:
        transcriber.close()
    assert transcriber.backend is None and not transcriber.alive


# ---- openai-whisper (a spawn child process) ----------------------------------------------------
def test_openai_whisper_end_to_end_in_a_child_process(shared_eval, hello_whisper_pt):
    opened, transcriber = load(openai_options(hello_whisper_pt))
    try:
        events, t = run(shared_eval / "speech" / "jfk.wav", openai_options(hello_whisper_pt),
                        transcriber)
        events = opened + events
        child = transcriber.backend.process
        assert child is not None and child.is_alive() and child.pid != os.getpid()
        assert t.engine == "openai-whisper" and t.model == hello_whisper_pt.name
        assert t.duration == pytest.approx(11.0, abs=0.05) and t.language == "en"
        assert isinstance(t.segments, list) and t.segments
        assert [e for e in events if isinstance(e, Segment)] == t.segments
        assert t.text == "hello" and t.segments[0].start == 0.0
        assert all(0 <= s.start <= s.end <= t.duration + 0.02 for s in t.segments)
        stages = [e.stage for e in events if isinstance(e, Progress)]
        assert stages[0] == "Loading model" and "Transcribing" in stages
        progress = [e for e in events if isinstance(e, Progress) and e.stage == "Transcribing"]
        assert progress[-1].done == pytest.approx(t.duration) and progress[-1].fraction == 1.0
        assert t.seconds > 0

        # A second file: the same child and model, words this time, beam search off.
        events, t2 = run(shared_eval / "speech" / "LJ002-0020.wav",
                         openai_options(hello_whisper_pt, word_timestamps=True, beam_size=1),
                         transcriber)
        assert transcriber.backend.process is child
        assert t2.duration == pytest.approx(1.54, abs=0.05)
        words = [w for s in t2.segments for w in s.words]
        assert words and all(isinstance(w, Word) and w.word == HELLO_WORD for w in words)
        assert all(isinstance(w.start, float) and w.start <= w.end for w in words)
        json.dumps(t2.to_json())  # plain floats all the way down
    finally:
        transcriber.close()
    assert not child.is_alive()


def test_openai_whisper_cancel_terminates_the_child_quickly(shared_eval, hello_whisper_pt,
                                                            quiet_ten_minutes):
    _opened, transcriber = load(openai_options(hello_whisper_pt))
    cancel = CancelToken()
    set_at = child = None
    try:
        with pytest.raises(Cancelled):
            for ev in transcribe_file(quiet_ten_minutes, openai_options(hello_whisper_pt), cancel,
                                      transcriber):
                if isinstance(ev, Progress) and ev.stage == "Transcribing" and ev.done > 0 \
                        and set_at is None:  # a window is done: the child is mid-file
                    child = transcriber.backend.process
                    cancel.cancel()
                    set_at = time.perf_counter()
        took = time.perf_counter() - set_at
        assert took < 2.0, took
        assert not child.is_alive() and child.exitcode is not None
        assert not transcriber.alive and not transcriber.serves(openai_options(hello_whisper_pt))
        # The next run starts a fresh child.
        _events, t = run(shared_eval / "speech" / "jfk.wav", openai_options(hello_whisper_pt))
        assert t.text == "hello"
    finally:
        transcriber.close()


def test_openai_whisper_cancel_while_loading(shared_eval, hello_whisper_pt):
    import multiprocessing

    cancel = CancelToken()
    with pytest.raises(Cancelled):
        for ev in transcribe_file(shared_eval / "speech" / "jfk.wav",
                                  openai_options(hello_whisper_pt), cancel):
            if isinstance(ev, Progress) and ev.stage == "Loading model":
                cancel.cancel()
                set_at = time.perf_counter()
    assert time.perf_counter() - set_at < 2.0
    assert not [p for p in multiprocessing.active_children() if p.name == "openai-whisper"]


def test_openai_whisper_model_name_offline_is_a_clear_error(shared_eval, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(HubUnreachable) as info:
        list(transcribe_file(shared_eval / "speech" / "jfk.wav",
                             TranscribeOptions(engine="openai-whisper", model="tiny.en"),
                             CancelToken()))
    assert "internet" in info.value.message and ".pt" in info.value.message


def test_openai_whisper_child_errors_come_back_typed(shared_eval, tmp_path):
    """An error inside the child is re-raised in the parent as a typed error with its message."""
    with pytest.raises(ModelUnavailable, match="no model called 'no-such-whisper'"):
        list(transcribe_file(shared_eval / "speech" / "jfk.wav",
                             TranscribeOptions(engine="openai-whisper", model="no-such-whisper"),
                             CancelToken()))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint at all")
    with pytest.raises(BadInput, match="broken.pt"):
        list(transcribe_file(shared_eval / "speech" / "jfk.wav", openai_options(broken),
                             CancelToken()))


# ---- CLI ---------------------------------------------------------------------------------------
def main_py(*args, home, timeout=300):
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(home.root)}
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=timeout)


RTF_LINE = re.compile(r"^(\S+): (\d+\.\d) s audio in (\d+\.\d) s, RTF (\d+\.\d{3})$", re.M)


def test_cli_prints_srt_to_stdout_and_rtf_to_stderr(shared_eval, home):
    out = main_py("transcribe", shared_eval / "speech" / "jfk.wav", "--format", "srt", home=home)
    assert out.returncode == 0, out.stderr
    cues = parse_cues(out.stdout, vtt=False)
    assert cues and cues[0][0] == 1
    assert "ask not what your country" in " ".join(out.stdout.split())  # cues wrap lines
    m = RTF_LINE.search(out.stderr)
    assert m and m.group(1) == "jfk.wav" and m.group(2) == "11.0", out.stderr
    assert "Transcribing" in out.stderr and "error" not in out.stderr


def test_cli_output_dir_writes_files(shared_eval, home, tmp_path):
    target = tmp_path / "transcripts"
    out = main_py("transcribe", shared_eval / "speech" / "jfk.wav", "--format", "json",
                  "--word-timestamps", "--output-dir", target, home=home)
    assert out.returncode == 0, out.stderr
    written = target / "jfk.json"
    assert out.stdout.strip() == str(written)
    data = json.loads(written.read_text(encoding="utf-8"))
    assert "country" in data["text"] and data["segments"][0]["words"]
    assert RTF_LINE.search(out.stderr)


def test_cli_goes_on_after_a_bad_file_and_exits_1(shared_eval, home, bad_files):
    speech = shared_eval / "speech"
    out = main_py("transcribe", speech / "jfk.wav", bad_files["corrupt"], speech / "jfk.flac",
                  "--format", "txt", home=home)
    assert out.returncode == 1
    assert out.stdout.count("ask what you can do for your country") == 2, out.stdout
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: corrupt.wav: ")
    assert [m.group(1) for m in RTF_LINE.finditer(out.stderr)] == ["jfk.wav", "jfk.flac"]
    assert out.stderr.count("Loading model 100%") == 1  # one model for every file


def test_json_figures_survive_a_round_trip_whatever_the_timing():
    # 2.000466 s over 11 s: RTF 0.18186 from the raw figures, 0.18182 from the rounded ones
    t = Transcript("a.wav", 11.0, [Segment(0.0, 1.0, "hi")], "en", 2.000466, "e", "m")
    assert Transcript.from_json(t.to_json()).to_json() == t.to_json()
