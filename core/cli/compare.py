"""The `compare` subcommand: one prompt, two chat models, both replies with their figures."""
from __future__ import annotations

import argparse
from typing import TextIO

from core.cli import add_device_option
from core.cli.drive import drive
from core.errors import BadInput


def add_parser(sub: argparse._SubParsersAction) -> None:
    from core.chat import GenerationSettings

    d = GenerationSettings()
    p = sub.add_parser("compare", help="one prompt, two chat models (a run and its base, say): "
                       "both replies with their figures")
    p.add_argument("prompt", help="the message to send to both")
    p.add_argument("--model", action="append", required=True, metavar="ID",
                   help="a chat model; give it twice")
    p.add_argument("--system", default="", help="system prompt")
    p.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens,
                   help="default: %(default)s")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0 means greedy, the fair default for a comparison (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="the same seed on both sides")
    add_device_option(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.chat import ChatRequest, GenerationSettings, open_chat
    from core.cli.chat import figures_line, printing_tokens

    if len(args.model) != 2:
        raise BadInput("compare needs exactly two models.", hint="--model A --model B")
    if not args.prompt.strip():
        raise BadInput("The prompt is empty.")
    settings = GenerationSettings(
        decoding="greedy" if args.temperature == 0 else "sampling", temperature=args.temperature,
        max_new_tokens=args.max_new_tokens, seed=args.seed).validate()
    request = ChatRequest(({"role": "user", "content": args.prompt},), args.system, settings)
    request.validate()
    for model_id in args.model:
        engine = drive(lambda c, m=model_id: open_chat(args.registry, m, args.device, c), err)
        out.write(f"=== {engine.info.name} ({engine.info.line()})\n")
        stats = drive(lambda c, e=engine: printing_tokens(e.stream(request, c), out), err)
        out.write(f"\n--- {figures_line(stats)}\n\n")
        engine.close()
    return 0
