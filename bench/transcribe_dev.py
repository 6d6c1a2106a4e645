"""How the batched pipeline's settings were chosen, on development speech (run by hand):

    .venv/bin/python bench/transcribe_dev.py [--models tiny.en base] [--seconds 150]

Never on ../shared/eval/speech (evaluation only). The speech here is made with espeak-ng from
passages of tiny_shakespeare.txt (training text), three voices, about ``--seconds`` each, with the
passage as the reference. For each model (the bundled CTranslate2 packs, int8, beam 5, the app's
CPU threads) raw faster-whisper transcribes every file:

- sequential: ``WhisperModel.transcribe`` (what the app does below BATCH_MIN_SECONDS);
- app: ``core.transcribe.transcribe_file``, the app as users run it (batched here, failed chunks
  decoded again sequentially);
- batched, as faster-whisper's ``BatchedInferencePipeline`` defaults (no timestamp tokens);
- batched with timestamp tokens (``without_timestamps=False``): each chunk is decoded as the
  sequential pipeline decodes a window;
each at batch 4 and 8. Printed per variant: corpus WER (both sides normalised with
``whisper.normalizers.EnglishTextNormalizer``), its distance from sequential, and the seconds
(fastest of ``--repeat``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TEXT = ROOT.parent / "shared" / "eval" / "tiny_shakespeare.txt"  # training text, not evaluation
VOICES = ("en-us", "en-gb", "en-us+f3")
WORDS_PER_SECOND = 2.55  # espeak-ng at 160 words a minute, pauses included


def passages(seconds: float) -> list[str]:
    """Three different passages of plain verse (speaker names dropped), ``seconds`` long each."""
    text = TEXT.read_text(encoding="utf-8")
    lines = [x for x in text.split("\n") if x and not x.endswith(":")]
    words = " ".join(lines).split()
    n = int(seconds * WORDS_PER_SECOND)
    starts = (40_000, 90_000, 140_000)
    return [" ".join(words[s:s + n]) for s in starts]


def synthesize(folder: Path, seconds: float) -> list[tuple[Path, str]]:
    out = []
    for i, (voice, text) in enumerate(zip(VOICES, passages(seconds), strict=True)):
        wav = folder / f"dev{i}-{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(wav), text], check=True)
        out.append((wav, text))
    return out


def app_transcriber(registry, model_id: str):
    """The app's Transcriber (joining a split pack the first time); its folder is ``.ref``."""
    from core.cancel import CancelToken
    from core.events import Done
    from core.transcribe import open_transcriber

    for ev in open_transcriber(registry, model_id, "cpu", CancelToken(), "faster-whisper"):
        if isinstance(ev, Done):
            return ev.result
    raise RuntimeError(model_id)


def app_text(transcriber, registry, model_id: str, wav: Path) -> str:
    """What the app writes for ``wav`` (``core.transcribe.transcribe_file``, the app's choices)."""
    from core.cancel import CancelToken
    from core.events import Done
    from core.transcribe import TranscribeOptions, transcribe_file

    options = TranscribeOptions(engine="faster-whisper", model=model_id, device="cpu")
    for ev in transcribe_file(wav, options, CancelToken(), transcriber, registry):
        if isinstance(ev, Done):
            return ev.result.text
    raise RuntimeError(wav)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    ap.add_argument("--seconds", type=float, default=150)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--batches", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--no-timestamps-only", action="store_true",
                    help="leave out the variants with timestamp tokens")
    ap.add_argument("--detail", action="store_true",
                    help="per file: substitutions, deletions, insertions")
    args = ap.parse_args()
    import jiwer
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from faster_whisper.audio import decode_audio
    from whisper.normalizers import EnglishTextNormalizer

    from core.models.registry import Registry

    norm = EnglishTextNormalizer()
    registry = Registry(scan_hf_cache=False)
    variants = {"sequential": None, "app": "app"}
    for batch in args.batches:
        variants[f"raw batched {batch}"] = dict(batch_size=batch)
        if not args.no_timestamps_only:
            variants[f"raw batched {batch}, timestamps"] = dict(batch_size=batch,
                                                            without_timestamps=False)
    with tempfile.TemporaryDirectory() as tmp:
        files = synthesize(Path(tmp), args.seconds)
        audio = [(decode_audio(str(wav)), ref, wav) for wav, ref in files]
        total = sum(len(a) for a, _r, _w in audio) / 16000
        print(f"{len(files)} files, {total:.0f} s of espeak-ng speech ({', '.join(VOICES)})")
        for label in args.models:
            transcriber = app_transcriber(registry, f"whisper-{label}")
            folder = transcriber.ref
            model = WhisperModel(folder, device="cpu", compute_type="int8",
                                 cpu_threads=os.cpu_count() or 0)
            batched = BatchedInferencePipeline(model)
            model.transcribe(audio[0][0][:16000 * 5], beam_size=5)[0].__next__()  # warm up
            app_text(transcriber, registry, f"whisper-{label}", audio[0][2])
            print(f"\n== {label}")
            results = {}
            for name, kw in variants.items():
                errors = words = 0
                seconds = 0.0
                for samples, ref, wav in audio:
                    best, text = None, ""
                    for _ in range(args.repeat):
                        started = time.perf_counter()
                        if kw == "app":
                            text = app_text(transcriber, registry, f"whisper-{label}", wav)
                        else:
                            if kw is None:
                                segs, _info = model.transcribe(samples, beam_size=5)
                            else:
                                segs, _info = batched.transcribe(samples, beam_size=5, **kw)
                            text = " ".join(s.text.strip() for s in segs)
                        took = time.perf_counter() - started
                        best = took if best is None else min(best, took)
                    r, h = norm(ref), norm(text)
                    out = jiwer.process_words(r, h or "<empty>")
                    errors += out.substitutions + out.deletions + out.insertions
                    if args.detail:
                        print(f"   {name:28} S {out.substitutions:3} D {out.deletions:3} "
                              f"I {out.insertions:3} of {len(r.split())}  {best:5.2f} s")
                    words += len(r.split())
                    seconds += best
                results[name] = (100 * errors / words, seconds)
            transcriber.close(wait=True)
            seq_wer, seq_s = results["sequential"]
            for name, (wer, seconds) in results.items():
                print(f"{name:28} WER {wer:6.2f} %  ({wer - seq_wer:+.2f} vs sequential)   "
                      f"{seconds:6.2f} s  ({seq_s / seconds:.2f}x sequential's speed)",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
