"""Transcription benchmark, run by hand:

    .venv/bin/python bench/transcribe.py [--beam-size 5] [--files jfk.flac ...]

Whisper tiny.en (the bundled CTranslate2 pack), int8 on the CPU, beam 5, over the 15 recordings
of ../shared/eval/speech (evaluation only: nothing here tunes anything on them). Per file, the app
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

Goals: app WER within 0.5 points of raw (raw: ~8.5 %), app RTF <= 1.1x raw.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beam-size", type=int, default=None,
                        help="default: TranscribeOptions' beam size")
    parser.add_argument("--files", nargs="*", help="a subset of the files (default: all 15)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per file and side")
    args = parser.parse_args()
    if not SPEECH.is_dir():
        raise SystemExit(f"{SPEECH} is not here (it exists only beside a development checkout)")

    from faster_whisper import WhisperModel
    from whisper.normalizers import EnglishTextNormalizer

    from core.cancel import CancelToken
    from core.events import Done
    from core.models.registry import Registry, Task
    from core.transcribe import TranscribeOptions, open_transcriber, transcribe_file

    refs = references()
    files = args.files or list(refs)
    normalizer = EnglishTextNormalizer()
    registry = Registry()
    folder = registry.get("whisper-tiny.en", task=Task.SPEECH_RECOGNITION).load_path
    threads = os.cpu_count() or 0  # what the app gives CTranslate2
    options = TranscribeOptions(engine="faster-whisper", model="whisper-tiny.en", device="cpu")
    if args.beam_size is not None:
        options = replace(options, beam_size=args.beam_size)
    args.beam_size = options.validate().beam_size
    raw_kwargs = dict(language=options.language, task=options.task, beam_size=options.beam_size,
                      word_timestamps=options.word_timestamps, vad_filter=options.vad_filter,
                      initial_prompt=options.initial_prompt)
    transcriber = None
    for ev in open_transcriber(registry, options.model, options.device, CancelToken(),
                               options.engine):
        if isinstance(ev, Done):
            transcriber = ev.result

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

    print(f"tiny.en int8, beam {args.beam_size}, {threads} CPU threads "
          f"(os.cpu_count()={os.cpu_count()}), {len(files)} files; model {folder}")
    warm = SPEECH / "jfk.wav"  # both sides: one unscored run first (allocations, thread teams)
    run_app(warm)
    run_raw(warm)

    import statistics

    totals = {"app_err": 0, "raw_err": 0, "app_title": 0, "raw_title": 0, "words": 0,
              "audio": 0.0}
    times = {k: [] for k in ("app", "raw", "app_wall")}  # per file: list of runs
    print(f"{'file':26} {'audio s':>7} {'app WER':>8} {'raw WER':>8} {'app s':>7} {'raw s':>7}"
          f"   (fastest of {args.repeat})")
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
        print(f"{name:26} {duration:7.1f} {100 * app_err / words:7.1f}% "
              f"{100 * raw_err / words:7.1f}% {min(runs['app']):7.2f} {min(runs['raw']):7.2f}")
    transcriber.close(wait=True)
    best = {k: sum(min(r) for r in v) for k, v in times.items()}
    median = {k: sum(statistics.median(r) for r in v) for k, v in times.items()}
    totals.update(app_s=best["app"], raw_s=best["raw"], app_wall=best["app_wall"])

    app_wer = 100 * totals["app_err"] / totals["words"]
    raw_wer = 100 * totals["raw_err"] / totals["words"]
    app_rtf = totals["app_s"] / totals["audio"]
    app_wall_rtf = totals["app_wall"] / totals["audio"]
    raw_rtf = totals["raw_s"] / totals["audio"]
    print(f"\n{totals['audio']:.1f} s of audio, {totals['words']} reference words "
          "(sonnet titles left in for both)")
    print(f"WER  app {app_wer:.2f} %   raw {raw_wer:.2f} %   difference "
          f"{app_wer - raw_wer:+.2f} points   (goal: within 0.5)")
    app_wer_nt = 100 * (totals["app_err"] - totals["app_title"]) / totals["words"]
    raw_wer_nt = 100 * (totals["raw_err"] - totals["raw_title"]) / totals["words"]
    print(f"     without the spoken sonnet titles ({totals['app_title']} and "
          f"{totals['raw_title']} inserted title words): app {app_wer_nt:.2f} %   raw "
          f"{raw_wer_nt:.2f} %")
    print(f"RTF  app {app_rtf:.4f}   raw {raw_rtf:.4f}   ratio {app_rtf / raw_rtf:.3f}x   "
          "(goal: <= 1.1x)")
    print(f"RTF  app, whole transcribe_file call {app_wall_rtf:.4f}   ratio "
          f"{app_wall_rtf / raw_rtf:.3f}x")
    audio = totals["audio"]
    print(f"RTF  medians of {args.repeat}: app {median['app'] / audio:.4f}   raw "
          f"{median['raw'] / audio:.4f}   ratio {median['app'] / median['raw']:.3f}x")
    ok = abs(app_wer - raw_wer) <= 0.5 and app_rtf <= 1.1 * raw_rtf
    print("goals met" if ok else "GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
