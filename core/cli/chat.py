"""The `chat` subcommand: stream a reply from a local language model."""
from __future__ import annotations

import argparse
from typing import TextIO

from core.cli import add_device_option
from core.cli.drive import Stop, drive
from core.errors import BadInput


def add_parser(sub: argparse._SubParsersAction) -> None:
    from core.chat import ENGINES, GenerationSettings

    d = GenerationSettings()  # the defaults live there once
    chat = sub.add_parser("chat", help="stream a reply from a local language model")
    chat.add_argument("prompt", help="the message to send")
    chat.add_argument("--model", help="registry id, name, folder or Hub id (default: SmolLM2)")
    chat.add_argument("--system", default="", help="system prompt")
    chat.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens,
                      help="default: %(default)s")
    chat.add_argument("--temperature", type=float, default=d.temperature,
                      help="0 means greedy (default: %(default)s)")
    chat.add_argument("--top-p", type=float, default=d.top_p, help="default: %(default)s")
    chat.add_argument("--top-k", type=int, default=d.top_k, help="default: %(default)s")
    chat.add_argument("--repetition-penalty", type=float, default=d.repetition_penalty,
                      help="default: %(default)s")
    chat.add_argument("--seed", type=int, default=d.seed)
    chat.add_argument("--num-beams", type=int, metavar="N",
                      help="beam search with N beams (no streaming; transformers engine only); "
                      "default: no beam search")
    chat.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                      help="auto: GGUF files on llama.cpp, other models on transformers "
                      "(default: %(default)s)")
    chat.add_argument("--context", type=int, metavar="N",
                      help="cap the context length the model declares at N tokens")
    add_device_option(chat)
    chat.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.chat import ChatRequest, GenerationSettings, Token, open_chat

    if not args.prompt.strip():
        raise BadInput("The prompt is empty.", hint='Example: main.py chat "Hello"')
    beams = args.num_beams is not None and args.num_beams > 1
    if beams:
        decoding = "beam"
    elif args.temperature == 0:
        decoding = "greedy"
    else:
        decoding = "sampling"
    settings = GenerationSettings(
        decoding=decoding, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
        repetition_penalty=args.repetition_penalty, max_new_tokens=args.max_new_tokens,
        seed=args.seed, **({"num_beams": args.num_beams} if beams else {})).validate()
    request = ChatRequest(({"role": "user", "content": args.prompt},), args.system, settings)
    request.validate()
    from core.models.registry import Registry

    engine = drive(lambda c: open_chat(Registry(), args.model, args.device, c, engine=args.engine,
                                       max_context=args.context), err)
    print(f"{engine.info.name}: {engine.info.line()}", file=err)
    stats = None

    def stream(cancel):
        for ev in engine.stream(request, cancel):
            if isinstance(ev, Token):
                out.write(ev.text)
                out.flush()
            else:
                yield ev

    stop = Stop()
    stats = drive(stream, err, stop)
    out.write("\n")  # the partial reply stays printed when Ctrl+C stopped it
    out.flush()
    ttft = f"{stats.ttft_s:.2f} s" if stats.ttft_s is not None else "-"
    print(f"{stats.tokens} tokens, {stats.tokens_per_s:.1f} tok/s, TTFT {ttft}"
          + (" (stopped)" if stats.stopped else ""), file=err)
    return stop.exit_code if stop.cancelled else 0
