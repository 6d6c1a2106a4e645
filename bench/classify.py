"""Classification benchmark, run by hand:

    .venv/bin/python bench/classify.py [--batch-size 32] [--rounds 3] [--model sentiment-minilm]

Texts per second over ../shared/eval/sst2_dev.tsv (872 sentences; evaluation only: nothing here
tunes anything), the bundled sentiment model on the CPU, in one process and on one loaded model:

- app: ``Classifier.classify(texts, cancel, batch_size)``, the generator the panel and the CLI
  drive (tokenising, truncation flags, softmax, per-batch events, results back in input order);
  it sorts texts by length within windows of 8 batches, so batches carry less padding.
- app, input order: the same with that sorting off (``sort_window=1``): the cost of the app's
  own bookkeeping alone.
- plain: a transformers forward loop with the same batch size: tokenizer(batch, padding=True,
  truncation=True) then model(**enc).logits.softmax(-1) under torch.inference_mode().

Rounds rotate the order of the three sides (each runs first, second and third in turn); the best
round of each side counts (the least disturbed on a shared machine), medians are printed too. Both sides must
agree on every label; the dev accuracy is printed. Goal: app texts/s >= 0.95x plain.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEV = ROOT.parent / "shared" / "eval" / "sst2_dev.tsv"


def plain_loop(model, tokenizer, texts: list[str], batch_size: int, max_length: int) -> list[int]:
    import torch

    out: list[int] = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        with torch.inference_mode():
            probs = model(**enc).logits.softmax(-1)
        out += probs.argmax(-1).tolist()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--model", default="sentiment-minilm")
    args = ap.parse_args()
    if not DEV.is_file():
        print(f"{DEV} is missing: this benchmark runs beside a development checkout.")
        return 1
    import torch

    from core.cancel import CancelToken
    from core.classify import open_classifier, read_table
    from core.events import Done
    from core.models.registry import Registry
    from core.paths import AppHome

    table = read_table(DEV)
    texts, gold = table.texts, [r[1] for r in table.rows]
    registry = Registry(AppHome.default(), scan_hf_cache=False)
    clf = [e for e in open_classifier(registry, args.model, "cpu", CancelToken())][-1].result
    print(f"{clf.info.name}: {len(texts)} texts, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads")

    def app(window: int) -> list[str]:
        for ev in clf.classify(texts, CancelToken(), args.batch_size, sort_window=window):
            if isinstance(ev, Done):
                return [p.label for p in ev.result]
        raise RuntimeError("no result")

    sides = {
        "app": lambda: app(8),
        "app, input order": lambda: app(1),
        "plain": lambda: [clf.labels[i] for i in plain_loop(
            clf.model, clf.tokenizer, texts, args.batch_size, clf.info.max_length)],
    }
    for fn in sides.values():  # warm-up: first calls allocate
        fn()
    times: dict[str, list[float]] = {k: [] for k in sides}
    labels: dict[str, list[str]] = {}
    order = list(sides)
    for r in range(args.rounds):  # each side takes each slot in turn
        for name in order[r % len(order):] + order[:r % len(order)]:
            t0 = time.perf_counter()
            labels[name] = sides[name]()
            times[name].append(time.perf_counter() - t0)
    agree = all(labels[k] == labels["plain"] for k in sides)
    names = {"0": clf.labels[0], "1": clf.labels[1]} if len(clf.labels) == 2 else {}
    accuracy = (sum(p == names.get(g) for p, g in zip(labels["app"], gold)) / len(gold)
                if names else float("nan"))
    rate = {k: len(texts) / min(v) for k, v in times.items()}
    med = {k: len(texts) / statistics.median(v) for k, v in times.items()}
    for k in sides:
        print(f"{k:17s} best {rate[k]:7.1f} texts/s   median {med[k]:7.1f} texts/s")
    print(f"ratio app / plain:              {rate['app'] / rate['plain']:.3f}x "
          f"(medians {med['app'] / med['plain']:.3f}x)   goal >= 0.95x")
    print(f"ratio app, input order / plain: {rate['app, input order'] / rate['plain']:.3f}x "
          f"(medians {med['app, input order'] / med['plain']:.3f}x)")
    print(f"labels agree: {agree}   sst2_dev accuracy: {accuracy:.4f}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
