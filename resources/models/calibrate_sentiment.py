"""Calibrates the bundled sentiment model (resources/models/sentiment-minilm/) once and ships the
result beside it as calibration.json:

    .venv/bin/python resources/models/calibrate_sentiment.py [--train ../shared/eval/sst2_train.tsv]

The temperature is fitted on the model's own held-out rows of the SST-2 train file: the same 2 %
(seed 42) that make_sentiment.py held out as its validation split, so rows it never trained on.
The dev set (sst2_dev.tsv) is only measured, never fitted on: the script prints the expected
calibration error (ECE) and accuracy on it before and after. The file is computed once and shipped
in resources/ (the model's folder), not computed on the user's machine: it is the same for
everyone, and fitting it needs the 5 MB train file the app does not ship.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.cancel import CancelToken  # noqa: E402
from core.classify.calibration import (  # noqa: E402
    _softmax,
    expected_calibration_error,
    fit_calibration,
    model_logits,
    save_calibration,
)
from core.events import Done  # noqa: E402
from core.textfiles import LABEL_COLUMNS, TEXT_COLUMNS, parse_table, pick_column, read_text_file  # noqa: E402

OUT = Path(__file__).resolve().parent / "sentiment-minilm"
EVAL_SPLIT, SEED = 0.02, 42  # make_sentiment.py's validation split
LABELS = {"0": "negative", "1": "positive"}


def rows(path: Path) -> list[tuple[str, str]]:
    """(text, label) rows as the fine-tune engine reads them (blank ones left out)."""
    table = parse_table(read_text_file(path)[0], path)
    ti = table.columns.index(pick_column(table.columns, None, TEXT_COLUMNS, "text", path))
    li = table.columns.index(pick_column(table.columns, None, LABEL_COLUMNS, "label", path))
    out = []
    for row in table.rows:
        if len(row) > max(ti, li) and row[ti].strip() and row[li].strip():
            out.append((row[ti].strip(), row[li].strip()))
    return out


def held_out(train: list[tuple[str, str]]) -> list[tuple[str, str]]:
    from core.finetune.examples import _split  # the same seeded split the run used

    _train_idx, eval_idx = _split(len(train), EVAL_SPLIT, SEED)
    return [train[i] for i in eval_idx]


def measure(name: str, logits, labels, temperature: float) -> str:
    probs = [_softmax(r, temperature) for r in logits]
    acc = sum(max(range(len(p)), key=p.__getitem__) == y for p, y in zip(probs, labels)) / len(labels)
    return f"{name}: ECE {expected_calibration_error(probs, labels):.4f}, accuracy {acc:.4f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=ROOT.parent / "shared/eval/sst2_train.tsv")
    ap.add_argument("--dev", type=Path, default=ROOT.parent / "shared/eval/sst2_dev.tsv",
                    help="measured only (evaluation only: never fitted on)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--dry-run", action="store_true", help="measure, write nothing")
    args = ap.parse_args(argv)
    if "dev" in args.train.name:
        ap.error("the dev file is for evaluation only")
    from core.classify import open_classifier
    from core.models.registry import Registry

    clf = None
    for ev in open_classifier(Registry(), "sentiment-minilm", "cpu", CancelToken()):
        if isinstance(ev, Done):
            clf = ev.result
    label_id = {lab: i for i, lab in enumerate(clf.labels)}
    fit_rows = held_out(rows(args.train))
    fit_logits = model_logits(clf.model, clf.tokenizer, [t for t, _ in fit_rows],
                              clf.info.max_length)
    fit_labels = [label_id[LABELS[lab]] for _, lab in fit_rows]
    cal = fit_calibration(fit_logits, fit_labels,
                          f"{len(fit_rows)} held-out rows of {args.train.name} (seed {SEED})")
    print(f"fitted on {cal.source}: {cal.line()}")
    dev = rows(args.dev)
    dev_logits = model_logits(clf.model, clf.tokenizer, [t for t, _ in dev], clf.info.max_length)
    dev_labels = [label_id[LABELS[lab]] for _, lab in dev]
    print(measure(f"{args.dev.name} ({len(dev)} rows), before", dev_logits, dev_labels, 1.0))
    print(measure(f"{args.dev.name} ({len(dev)} rows), after ", dev_logits, dev_labels,
                  cal.temperature))
    if not args.dry_run:
        print(f"wrote {save_calibration(args.out, cal)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
