"""The `chat` subcommand: stream a reply from a local language model."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from core.cli import add_device_option
from core.cli.drive import Stop, drive
from core.errors import BadInput

if TYPE_CHECKING:
    from core.chat import GenerationSettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    from core.chat import ENGINES, PRESETS, GenerationSettings

    d = GenerationSettings()  # the defaults live there once; sampling ones come from the model
    chat = sub.add_parser("chat", help="stream a reply from a local language model or an endpoint")
    chat.add_argument("prompt", help="the message to send")
    chat.add_argument("--model", help="registry id, name, folder, Hub id, or an endpoint's "
                      "NAME/MODEL (default: SmolLM2)")
    chat.add_argument("--system", help="system prompt (default: the model's own; small models get a "
                      "plain one that keeps them on the question; --system \"\" for none)")
    chat.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens,
                      help="default: %(default)s")
    chat.add_argument("--preset", choices=PRESETS,
                      help="precise: greedy; balanced: the model's defaults; creative: warmer "
                      "(default: balanced)")
    per_model = "default: the model's, from its generation_config.json or its size"
    chat.add_argument("--temperature", type=float, help=f"0 means greedy ({per_model})")
    chat.add_argument("--top-p", type=float, help=per_model)
    chat.add_argument("--top-k", type=int, help=per_model)
    chat.add_argument("--repetition-penalty", type=float, help=per_model)
    chat.add_argument("--seed", type=int, default=d.seed)
    chat.add_argument("--num-beams", type=int, metavar="N",
                      help="beam search with N beams (no streaming; transformers engine only); "
                      "default: no beam search")
    chat.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                      help="auto: GGUF files on llama.cpp, other models on transformers "
                      "(default: %(default)s)")
    chat.add_argument("--context", type=int, metavar="N",
                      help="cap the context length the model declares at N tokens")
    chat.add_argument("--attach", nargs="+", metavar="FILE", default=[],
                      help="answer from these files (text, Markdown, CSV, or a transcript JSON "
                      "from this app); the sources used are printed on stderr")
    add_device_option(chat)
    chat.set_defaults(handler=run)


def printing_tokens(events, out: TextIO):
    """Pass a chat generator's events on, writing its Tokens to ``out`` as they come (the
    subcommands that stream a reply: chat, compare, summarize)."""
    from core.chat import Token

    for ev in events:
        if isinstance(ev, Token):
            out.write(ev.text)
            out.flush()
        else:
            yield ev


def figures_line(stats) -> str:
    """A reply's figures: "17 tokens, 76.0 tok/s, TTFT 0.22 s (stopped)"."""
    ttft = f"{stats.ttft_s:.2f} s" if stats.ttft_s is not None else "-"
    return (f"{stats.tokens} tokens, {stats.tokens_per_s:.1f} tok/s, TTFT {ttft}"
            + (" (stopped)" if stats.stopped else ""))


def settings_from(args: argparse.Namespace, defaults) -> GenerationSettings:
    """The model's defaults (``ModelDefaults``), its preset when one is asked for, and what was
    given on the command line over them."""
    from dataclasses import replace

    s = defaults.preset(args.preset or "balanced")
    given = {k: getattr(args, k) for k in ("temperature", "top_p", "top_k", "repetition_penalty")
             if getattr(args, k) is not None}
    s = replace(s, **given, max_new_tokens=args.max_new_tokens, seed=args.seed)
    if args.num_beams is not None and args.num_beams > 1:
        s = replace(s, decoding="beam", num_beams=args.num_beams)
    elif args.temperature == 0:
        s = replace(s, decoding="greedy")
    elif args.temperature is not None and s.decoding == "greedy":
        s = replace(s, decoding="sampling")
    return s.validate()


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.chat import ChatRequest, model_defaults, open_chat

    if not args.prompt.strip():
        raise BadInput("The prompt is empty.", hint='Example: main.py chat "Hello"')
    # checked before the model loads; the model's own defaults apply once it is known
    messages = ({"role": "user", "content": args.prompt},)
    ChatRequest(messages, args.system or "", settings_from(args, model_defaults(None))).validate()
    from core.chat import read_attachment
    from core.models.registry import Registry

    attachments = [read_attachment(f) for f in args.attach]  # a bad file: one line, before loading
    engine = drive(lambda c: open_chat(Registry(), args.model, args.device, c, engine=args.engine,
                                       max_context=args.context), err)
    defaults = model_defaults(engine.info.path)
    settings = settings_from(args, defaults)
    system = defaults.system_prompt if args.system is None else args.system
    request = ChatRequest(messages, system, settings)
    print(f"{engine.info.name}: {engine.info.line()}", file=err)
    sampling = (f"temperature {settings.temperature}, top-p {settings.top_p}, top-k "
                f"{settings.top_k}" if settings.decoding == "sampling" else settings.decoding)
    print(f"settings: {sampling} ({defaults.source})"
          + (f"; system prompt: {system!r} (this model's default)" if args.system is None and system
             else ""), file=err)
    stats = None

    stop = Stop()
    used: list = []
    stats = drive(lambda cancel: printing_tokens(
        _answer(engine, request, attachments, args.device, used, cancel), out), err, stop)
    out.write("\n")  # the partial reply stays printed when Ctrl+C stopped it
    out.flush()
    print(figures_line(stats), file=err)
    for source in used:
        print(f"source: {source.label()}"
              + (f" (score {source.score:.2f})" if source.score is not None else ""), file=err)
    return stop.exit_code if stop.cancelled else 0


def _answer(engine, request, attachments: list, device: str, used: list, cancel):
    """The reply's events; with files attached, answered from them (the sources they gave are
    put in ``used``)."""
    if not attachments:
        yield from engine.stream(request, cancel)
        return
    from core.chat import Retriever, Sources, answer_with_files
    from core.models.registry import Registry

    retriever = Retriever.bundled(Registry(), device)
    for ev in answer_with_files(engine, retriever, request, attachments, cancel):
        if isinstance(ev, Sources):
            used.extend(ev.sources)
        else:
            yield ev
