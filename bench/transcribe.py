"""Transcription benchmark, run by hand:

    .venv/bin/python bench/transcribe.py [--models tiny.en base] [--repeat 3] [--files ...]
    .venv/bin/python bench/transcribe.py --choose-batch

Three parts in one run, for each model (Whisper tiny.en and base, the bundled CTranslate2 packs,
int8 on the CPU, beam 5):

1. WER and RTF over the 15 recordings of ../shared/eval/speech (evaluation only: nothing here
   tunes anything on them), the app against raw faster-whisper's sequential pipeline on the same
   model folder. The app picks its pipeline as it does for users: batched for files past
   ``BATCH_MIN_SECONDS``, sequential below.
2. The 158 s file alone: the app against raw sequential faster-whisper, speed-up and WER
   (goal: at least 1.3x faster, WER within 0.5 points).
3. Live mode: jfk.flac fed at real time through ``core.transcribe.live``; the delay from the end
   of each utterance (the end time of each final segment) to its text arriving (goal: median
   at most 1.5 s with tiny.en, 3 s with base).

``--choose-batch`` measures sequential against batched (batch 4 and 8) raw faster-whisper tiny.en
on synthetic speech made with espeak-ng from tiny_shakespeare.txt (13 to 165 s), not on the
evaluation recordings: how BATCH_MIN_SECONDS and BATCH_SIZE were chosen.

Details of part 1 (as before this benchmark covered two models). Per file, the app
(``core.transcribe.transcribe_file`` on one loaded ``Transcriber``) and raw faster-whisper (``WhisperModel(
same folder, cpu, int8, same threads).transcribe(path, same settings)``) alternate which runs first.

- WER: corpus level (total errors / total reference words), both sides normalised with
  ``whisper.normalizers.EnglishTextNormalizer``. The sonnet recordings open with ~2.7 s of the
  reader naming the sonnet, which the references leave out: the title stays in both systems'
  hypotheses (tiny.en writes "1." and the normaliser makes it "one"), so both pay the same
  insertions; a second line leaves those inserted title words out, for both.
- RTF: total processing seconds / total audio seconds. For the app that is ``Transcript.seconds``
  (decode + transcribe, the model already loaded); raw is timed around ``transcribe(path)`` plus
  iterating its segments (which decodes the file too). The app's whole ``transcribe_file`` call
  (device check, model lookup, events) is reported as well.
- ``--repeat N`` (default 3) runs every file N times per side, alternating which side goes first;
  per file the fastest run counts (the least disturbed by other work on a shared machine), and
  the medians are printed too. WER comes from the first run (decoding is deterministic; the
  bench checks that repeats give the same text).

Goals: app WER within 0.5 points of raw (raw tiny.en: ~8.5 %), app RTF <= 1.1x raw.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEECH = ROOT.parent / "shared" / "eval" / "speech"


def references() -> dict[str, str]:
    with open(SPEECH / "transcripts.tsv", encoding="utf-8", newline="") as f:
        return {row["filename"]: row["reference"]
                for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}


TITLE_WORDS = {"sonnet", "one", "two", "three", "1", "2", "3"}


def errors_and_words(normalizer, reference: str, hypothesis: str,
                     titled: bool = False) -> tuple[int, int, int]:
    """(errors, reference words, insertions of spoken-title words) after normalising both."""
    import jiwer

    ref, hyp = normalizer(reference), normalizer(hypothesis)
    out = jiwer.process_words(ref, hyp if hyp.strip() else "<empty>")
    title = 0
    if titled:
        words = out.hypotheses[0]
        title = sum(1 for chunk in out.alignments[0] if chunk.type == "insert"
                    for w in words[chunk.hyp_start_idx:chunk.hyp_end_idx] if w in TITLE_WORDS)
    return out.substitutions + out.deletions + out.insertions, len(ref.split()), title


MODELS = {"tiny.en": "whisper-tiny.en", "base": "whisper-base"}
LONG_FILE = "sonnets_001-003_long.mp3"


def load_model(registry, model_id: str):
    """The app's Transcriber for ``model_id`` (joining a split pack first) and its folder."""
    from core.cancel import CancelToken
    from core.events import Done
    from core.transcribe import open_transcriber

    transcriber = None
    for ev in open_transcriber(registry, model_id, "cpu", CancelToken(), "faster-whisper"):
        if isinstance(ev, Done):
            transcriber = ev.result
    return transcriber, transcriber.ref


def compare(label: str, model_id: str, files: list[str], args, registry, refs, normalizer
            ) -> dict:
    """Part 1 (and the numbers part 2 reads): app against raw sequential, file by file."""
    import statistics

    from faster_whisper import WhisperModel

    from core.cancel import CancelToken
    from core.events import Done
    from core.transcribe import TranscribeOptions, transcribe_file

    transcriber, folder = load_model(registry, model_id)
    threads = os.cpu_count() or 0  # what the app gives CTranslate2
    options = TranscribeOptions(engine="faster-whisper", model=model_id, device="cpu")
    if args.beam_size is not None:
        options = replace(options, beam_size=args.beam_size)
    beam = options.validate().beam_size
    raw_kwargs = dict(language=options.language, task=options.task, beam_size=options.beam_size,
                      word_timestamps=options.word_timestamps, vad_filter=options.vad_filter,
                      initial_prompt=options.initial_prompt)

    def run_app(path: Path):
        started = time.perf_counter()
        result = None
        for ev in transcribe_file(path, options, CancelToken(), transcriber, registry):
            if isinstance(ev, Done):
                result = ev.result
        return result.text, result.seconds, result.duration, time.perf_counter() - started

    raw_model = WhisperModel(folder, device="cpu", compute_type="int8", cpu_threads=threads)

    def run_raw(path: Path):
        started = time.perf_counter()
        segments, info = raw_model.transcribe(str(path), **raw_kwargs)
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        return text, time.perf_counter() - started, info.duration

    print(f"\n== {label}: int8, beam {beam}, {threads} CPU threads, {len(files)} files; "
          f"model {folder}", flush=True)
    warm = SPEECH / "jfk.wav"  # both sides: one unscored run first (allocations, thread teams)
    run_app(warm)
    run_raw(warm)
    totals = {"app_err": 0, "raw_err": 0, "app_title": 0, "raw_title": 0, "words": 0,
              "audio": 0.0}
    times = {k: [] for k in ("app", "raw", "app_wall")}  # per file: list of runs
    per_file = {}
    print(f"{'file':26} {'audio s':>7} {'app WER':>8} {'raw WER':>8} {'app s':>7} {'raw s':>7}"
          f"   (fastest of {args.repeat})", flush=True)
    for i, name in enumerate(files):
        path = SPEECH / name
        runs = {k: [] for k in times}
        texts = {"app": set(), "raw": set()}
        for r in range(args.repeat):
            order = ("app", "raw") if (i + r) % 2 == 0 else ("raw", "app")
            for side in order:
                if side == "app":
                    app_text, app_s, duration, app_wall = run_app(path)
                    runs["app"].append(app_s)
                    runs["app_wall"].append(app_wall)
                    texts["app"].add(app_text)
                else:
                    raw_text, raw_s, raw_duration = run_raw(path)
                    runs["raw"].append(raw_s)
                    texts["raw"].add(raw_text)
        assert abs(duration - raw_duration) < 0.05, (name, duration, raw_duration)
        assert len(texts["app"]) == len(texts["raw"]) == 1, f"{name}: repeats differ"
        for k in times:
            times[k].append(runs[k])
        titled = name.startswith("sonnet")
        app_err, words, app_title = errors_and_words(normalizer, refs[name], app_text, titled)
        raw_err, _, raw_title = errors_and_words(normalizer, refs[name], raw_text, titled)
        totals["app_err"] += app_err
        totals["raw_err"] += raw_err
        totals["app_title"] += app_title
        totals["raw_title"] += raw_title
        totals["words"] += words
        totals["audio"] += duration
        per_file[name] = dict(app_s=min(runs["app"]), raw_s=min(runs["raw"]), words=words,
                              app_err=app_err, raw_err=raw_err, audio=duration)
        print(f"{name:26} {duration:7.1f} {100 * app_err / words:7.1f}% "
              f"{100 * raw_err / words:7.1f}% {min(runs['app']):7.2f} {min(runs['raw']):7.2f}",
              flush=True)
    transcriber.close(wait=True)
    best = {k: sum(min(r) for r in v) for k, v in times.items()}
    median = {k: sum(statistics.median(r) for r in v) for k, v in times.items()}
    app_wer = 100 * totals["app_err"] / totals["words"]
    raw_wer = 100 * totals["raw_err"] / totals["words"]
    audio = totals["audio"]
    app_rtf, raw_rtf = best["app"] / audio, best["raw"] / audio
    print(f"{audio:.1f} s of audio, {totals['words']} reference words (sonnet titles left in)")
    print(f"WER  app {app_wer:.2f} %   raw {raw_wer:.2f} %   difference "
          f"{app_wer - raw_wer:+.2f} points   (goal: within 0.5)")
    app_wer_nt = 100 * (totals["app_err"] - totals["app_title"]) / totals["words"]
    raw_wer_nt = 100 * (totals["raw_err"] - totals["raw_title"]) / totals["words"]
    print(f"     without the spoken sonnet titles: app {app_wer_nt:.2f} %   raw "
          f"{raw_wer_nt:.2f} %")
    print(f"RTF  app {app_rtf:.4f}   raw sequential {raw_rtf:.4f}   ratio "
          f"{app_rtf / raw_rtf:.3f}x   (goal: <= 1.1x)")
    print(f"RTF  app, whole transcribe_file call {best['app_wall'] / audio:.4f}   ratio "
          f"{best['app_wall'] / best['raw']:.3f}x")
    print(f"RTF  medians of {args.repeat}: app {median['app'] / audio:.4f}   raw "
          f"{median['raw'] / audio:.4f}   ratio {median['app'] / median['raw']:.3f}x")
    ok = abs(app_wer - raw_wer) <= 0.5 and app_rtf <= 1.1 * raw_rtf
    long = per_file.get(LONG_FILE)
    if long:
        speedup = long["raw_s"] / long["app_s"]
        d_wer = 100 * (long["app_err"] - long["raw_err"]) / long["words"]
        print(f"158 s file: app {long['app_s']:.2f} s   raw sequential {long['raw_s']:.2f} s   "
              f"speed-up {speedup:.2f}x (goal >= 1.3x)   WER app "
              f"{100 * long['app_err'] / long['words']:.2f} %  raw "
              f"{100 * long['raw_err'] / long['words']:.2f} %  ({d_wer:+.2f} points, goal "
              "within 0.5)")
        ok = ok and speedup >= 1.3 and abs(d_wer) <= 0.5
    return {"ok": ok}


def live_delay(label: str, model_id: str, registry, goal: float) -> bool:
    """Part 3: jfk.flac fed at real time; delay from each final segment's end to its arrival."""
    import statistics
    import threading

    from core.cancel import CancelToken
    from core.events import Done
    from core.transcribe import Segment, TranscribeOptions, decode
    from core.transcribe.live import FileStream, Tentative, live

    transcriber, _ = load_model(registry, model_id)
    options = TranscribeOptions(model=model_id, device="cpu")
    audio = decode(SPEECH / "jfk.flac")
    streams: list = []
    stop = CancelToken()

    def stopper():
        while not streams or streams[0].finished_at is None:
            time.sleep(0.01)
        stop.cancel()

    threading.Thread(target=stopper).start()
    delays, first_text, result = [], None, None
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for ev in live(transcriber, options, stop, CancelToken(), folder,
                       stream_factory=FileStream.factory(audio, streams=streams)):
            now = time.monotonic()
            heard = now - streams[0].started_at if streams and streams[0].started_at else 0
            if isinstance(ev, (Segment, Tentative)) and ev.text and first_text is None:
                first_text = heard
            if isinstance(ev, Segment):
                delays.append(heard - ev.end)
            if isinstance(ev, Done):
                result = ev.result.transcript
    transcriber.close(wait=True)
    med = statistics.median(delays)
    print(f"live {label}: {len(delays)} utterances, delays "
          f"{', '.join(f'{d:.2f}' for d in delays)} s; median {med:.2f} s (goal <= {goal} s); "
          f"first text at {first_text:.2f} s of 11.0 s; text: {result.text}", flush=True)
    return med <= goal


def choose_batch() -> int:
    """Sequential against batched raw faster-whisper tiny.en on espeak-ng speech (not eval)."""
    import subprocess
    import tempfile

    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from faster_whisper.audio import decode_audio

    from core.models.registry import Registry

    text = (ROOT.parent / "shared" / "eval" / "tiny_shakespeare.txt").read_text()[20000:60000]
    words = " ".join(x for x in text.split("\n") if x and not x.endswith(":")).split()
    folder = Registry(scan_hf_cache=False).get("whisper-tiny.en").load_path
    model = WhisperModel(folder, device="cpu", compute_type="int8",
                         cpu_threads=os.cpu_count() or 0)
    batched = BatchedInferencePipeline(model)

    def timed(fn):
        started = time.perf_counter()
        n = len(" ".join(s.text for s in fn()[0]).split())
        return time.perf_counter() - started, n

    with tempfile.TemporaryDirectory() as tmp:
        for i, secs in enumerate((15, 30, 45, 60, 90, 180)):
            wav = Path(tmp) / f"s{secs}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav),
                            " ".join(words[:int(secs * 2.55)])], check=True)
            audio = decode_audio(str(wav))
            if i == 0:
                model.transcribe(audio, beam_size=5)[0].__next__()  # warm up
            runs = {"sequential": [], "batch 4": [], "batch 8": []}
            for r in range(2):
                for k in (list(runs) if r == 0 else list(runs)[::-1]):
                    if k == "sequential":
                        runs[k].append(timed(lambda a=audio: model.transcribe(a, beam_size=5)))
                    else:
                        bs = int(k.split()[1])
                        runs[k].append(timed(lambda a=audio, bs=bs: batched.transcribe(
                            a, beam_size=5, batch_size=bs)))
            print(f"{len(audio) / 16000:6.1f} s  " + "   ".join(
                f"{k} {min(t for t, _ in v):6.2f} s ({v[0][1]} words)" for k, v in runs.items()),
                flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beam-size", type=int, default=None,
                        help="default: TranscribeOptions' beam size")
    parser.add_argument("--files", nargs="*", help="a subset of the files (default: all 15)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per file and side")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--no-live", action="store_true", help="skip part 3")
    parser.add_argument("--choose-batch", action="store_true",
                        help="only measure where batching starts to pay (synthetic speech)")
    args = parser.parse_args()
    if args.choose_batch:
        return choose_batch()
    if not SPEECH.is_dir():
        raise SystemExit(f"{SPEECH} is not here (it exists only beside a development checkout)")

    from whisper.normalizers import EnglishTextNormalizer

    from core.models.registry import Registry

    refs = references()
    files = args.files or list(refs)
    normalizer = EnglishTextNormalizer()
    registry = Registry()
    ok = True
    for label in args.models:
        ok = compare(label, MODELS[label], files, args, registry, refs, normalizer)["ok"] and ok
    if not args.no_live:
        print()
        goals = {"tiny.en": 1.5, "base": 3.0}
        for label in args.models:
            ok = live_delay(label, MODELS[label], registry, goals[label]) and ok
    print("goals met" if ok else "GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
