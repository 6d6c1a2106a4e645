"""The `summarize` subcommand: a summary of a transcript or a text file of any length."""
from __future__ import annotations

import argparse
from typing import TextIO

from core.cli import add_device_option
from core.cli.drive import drive


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summarize", help="summarise a transcript (.json from this app) or a text "
                       "file, however long, with a local chat model")
    p.add_argument("file", help="a transcript .json written by this app, or any text file")
    p.add_argument("--model", help="chat model: registry id, name, folder (default: SmolLM2)")
    p.add_argument("--max-new-tokens", type=int, default=160,
                   help="longest summary of one part, in tokens (default: %(default)s)")
    p.add_argument("--context", type=int, metavar="N",
                   help="cap the context length the model declares at N tokens")
    add_device_option(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.chat import open_chat
    from core.chat.summarize import pieces_of, summarize
    from core.cli.chat import printing_tokens

    pieces, what = pieces_of(args.file)
    engine = drive(lambda c: open_chat(args.registry, args.model, args.device, c,
                                       max_context=args.context), err)
    print(f"{engine.info.name}: {engine.info.line()}", file=err)

    drive(lambda cancel: printing_tokens(summarize(engine, pieces, cancel, what=what,
                                                   max_new_tokens=args.max_new_tokens), out), err)
    out.write("\n")
    return 0
