"""The `classify` subcommand: classify texts or fill a [MASK]."""
from __future__ import annotations

import argparse
import json
from typing import TextIO

from core.cli import add_device_option
from core.cli.drive import drive
from core.errors import BadInput


def add_parser(sub: argparse._SubParsersAction) -> None:
    from core.classify import BATCH_SIZE, FILL_TOP_K

    cl = sub.add_parser("classify", help="classify texts (sentiment by default) or fill a [MASK]")
    cl.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    cl.add_argument("--file", metavar="F", help=".txt (one text per line), .csv or .tsv file")
    cl.add_argument("--column", metavar="C", help="the text column of a CSV/TSV file")
    cl.add_argument("--model", help="registry id, name, folder or Hub id "
                                    "(default: the bundled sentiment model)")
    cl.add_argument("--format", default="text", choices=["text", "json", "csv"])
    cl.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="default: %(default)s")
    cl.add_argument("--top-k", type=int, default=FILL_TOP_K,
                    help="fill-mask models: candidates per mask (default: %(default)s)")
    add_device_option(cl)
    cl.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import csv

    from core.classify import FillMasker, open_classifier, read_table, result_columns, short_text
    from core.models.registry import Registry

    texts = list(args.texts)
    if args.file:
        table = read_table(args.file, args.column)
        if table.skipped:
            print(f"{table.skipped} empty line(s) or row(s) left out.", file=err)
        texts += table.texts
    elif args.column:
        raise BadInput("--column needs --file.")
    if not texts:
        raise BadInput("Nothing to classify.", hint='Example: main.py classify "What a great film!"'
                                                   " or main.py classify --file reviews.csv")
    empty = [i + 1 for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise BadInput(f"Text {empty[0]} is empty.", hint="Give texts with some words in them.")
    if args.top_k < 1:
        raise BadInput("--top-k must be at least 1.")
    if args.batch_size < 1:  # before the model loads, not after
        raise BadInput(f"--batch-size must be at least 1 (got {args.batch_size}).")
    model = drive(lambda c: open_classifier(Registry(), args.model, args.device, c), err)
    if isinstance(model, FillMasker):
        rows = [(t, model.fill(t, args.top_k)) for t in texts]
        if args.format == "json":
            json.dump([{"text": t, "masks": [[{"token": f.token, "score": round(f.score, 6),
                                               "sequence": f.sequence} for f in fills]
                                             for fills in masks]} for t, masks in rows],
                      out, indent=2, ensure_ascii=False)
            out.write("\n")
        elif args.format == "csv":
            w = csv.writer(out)
            w.writerow(["text", "mask", "rank", "token", "score", "sequence"])
            for t, masks in rows:
                for m, fills in enumerate(masks, 1):
                    for r, f in enumerate(fills, 1):
                        w.writerow([t, m, r, f.token, f"{f.score:.6f}", f.sequence])
        else:
            for t, masks in rows:
                print(short_text(t), file=out)
                for m, fills in enumerate(masks, 1):
                    cands = ", ".join(f"{f.token} {f.score:.3f}" for f in fills)
                    print(f"  mask {m}: {cands}", file=out)
        return 0
    preds = drive(lambda c: model.classify(texts, c, args.batch_size), err)
    cut = sum(p.truncated for p in preds)
    if cut:
        print(f"{cut} text(s) longer than the model reads ({model.info.max_length} tokens) were "
              "truncated.", file=err)
    if args.format == "json":
        json.dump([p.to_json() for p in preds], out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif args.format == "csv":
        w = csv.writer(out)
        w.writerow(["text"] + result_columns(model.labels, ["text"]))
        for p in preds:
            w.writerow([p.text, p.label, f"{p.score:.6f}"]
                       + [f"{p.scores[lab]:.6f}" for lab in model.labels])
    else:
        width = max(len(lab) for lab in model.labels)
        for p in preds:
            print(f"{p.label.ljust(width)}  {p.score:.3f}  {short_text(p.text)}", file=out)
    return 0
