"""Command-line subcommands: thin layers over the same core generators the GUI drives."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from core.cancel import CancelToken
from core.errors import Cancelled, WorkbenchError, describe
from core.events import Done, Event, Log, Progress


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list, add, remove, convert or download models")
    models.add_argument("action", nargs="?", default="list",
                        choices=["list", "add", "remove", "convert", "download"])
    models.add_argument("target", nargs="?", help="path (add), id (remove, convert), Hub id")
    models.add_argument("--json", action="store_true", help="print a JSON list")
    models.add_argument("--task", help="only models for this task, e.g. text-generation")
    models.set_defaults(handler=cmd_models)

    chat = sub.add_parser("chat", help="stream a reply from a local language model")
    chat.add_argument("prompt", help="the message to send")
    chat.add_argument("--model", help="registry id, name, folder or Hub id (default: SmolLM2)")
    chat.add_argument("--system", default="", help="system prompt")
    chat.add_argument("--max-new-tokens", type=int, default=256)
    chat.add_argument("--temperature", type=float, default=0.7, help="0 means greedy")
    chat.add_argument("--top-p", type=float, default=0.9)
    chat.add_argument("--top-k", type=int, default=50)
    chat.add_argument("--repetition-penalty", type=float, default=1.0)
    chat.add_argument("--seed", type=int)
    chat.add_argument("--num-beams", type=int, default=1, help="above 1: beam search (no streaming)")
    chat.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    chat.set_defaults(handler=cmd_chat)

    cl = sub.add_parser("classify", help="classify texts (sentiment by default) or fill a [MASK]")
    cl.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    cl.add_argument("--file", metavar="F", help=".txt (one text per line), .csv or .tsv file")
    cl.add_argument("--column", metavar="C", help="the text column of a CSV/TSV file")
    cl.add_argument("--model", help="registry id, name, folder or Hub id "
                                    "(default: the bundled sentiment model)")
    cl.add_argument("--format", default="text", choices=["text", "json", "csv"])
    cl.add_argument("--batch-size", type=int, default=32)
    cl.add_argument("--top-k", type=int, default=5, help="fill-mask models: candidates per mask")
    cl.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    cl.set_defaults(handler=cmd_classify)

    ft = sub.add_parser("finetune", help="fine-tune a model on local files (LoRA or full)")
    ft.add_argument("--task", required=True, choices=["causal-lm", "chat", "classification"])
    ft.add_argument("--base", required=True, help="registry id or name, folder, or Hub id")
    ft.add_argument("--data", required=True, nargs="+", metavar="FILE")
    ft.add_argument("--output", required=True, metavar="NAME", help="name of the new model")
    ft.add_argument("--method", default="lora", choices=["lora", "full"])
    ft.add_argument("--epochs", type=float, default=1.0)
    ft.add_argument("--max-steps", type=int, default=-1)
    ft.add_argument("--lr", type=float, help="learning rate (default 2e-4, 5e-4 classification)")
    ft.add_argument("--batch-size", type=int, default=8)
    ft.add_argument("--grad-accum", type=int, default=1)
    ft.add_argument("--max-length", type=int, default=256)
    ft.add_argument("--chunk-length", type=int, default=256, help="raw text: tokens per chunk")
    ft.add_argument("--overlap", type=int, default=32, help="raw text: tokens shared by chunks")
    ft.add_argument("--hard-cut", default="", help="raw text: always start a chunk here")
    ft.add_argument("--text-column")
    ft.add_argument("--label-column")
    ft.add_argument("--lora-r", type=int, default=8)
    ft.add_argument("--lora-alpha", type=int, default=16)
    ft.add_argument("--eval-split", type=float, default=0.1)
    ft.add_argument("--save-steps", type=int, default=50)
    ft.add_argument("--seed", type=int, default=42)
    ft.add_argument("--merge", action="store_true", help="save merged full weights (LoRA)")
    ft.add_argument("--resume", action="store_true", help="continue the run of that name")
    ft.add_argument("--export-script", metavar="DIR",
                    help="write an equivalent accelerate launch script to DIR instead of training")
    ft.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ft.set_defaults(handler=cmd_finetune)

    tr = sub.add_parser("transcribe", help="transcribe audio or video files with Whisper")
    tr.add_argument("files", nargs="+", metavar="FILE", help="audio or video files")
    tr.add_argument("--engine", default="faster-whisper", choices=["faster-whisper",
                                                                   "openai-whisper"])
    tr.add_argument("--model", help="faster-whisper: registry id, CTranslate2 folder or Hub id "
                                    "(default: the bundled whisper-tiny.en); openai-whisper: a "
                                    "name such as tiny.en or a .pt file")
    tr.add_argument("--language", help="language code, e.g. en (default: detect)")
    tr.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    tr.add_argument("--beam-size", type=int, default=5)
    tr.add_argument("--word-timestamps", action="store_true", help="timestamps for every word")
    tr.add_argument("--vad", action="store_true", help="skip silence (voice activity detection)")
    tr.add_argument("--initial-prompt", help="text that sets the style or spells names")
    tr.add_argument("--format", default="txt", choices=["txt", "srt", "vtt", "json"])
    tr.add_argument("--output-dir", metavar="D",
                    help="write <stem>.<format> files there (default: print to stdout)")
    tr.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    tr.set_defaults(handler=cmd_transcribe)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run a parsed subcommand. Expected errors: one line on stderr and exit code 1."""
    try:
        return args.handler(args, out, err)
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return 130
    except Cancelled:
        print("error: cancelled", file=err)
        return 130
    except WorkbenchError as exc:
        print(f"error: {exc.user_message()}", file=err)
        return 1
    except Exception as exc:  # unexpected: still one line, never a traceback wall
        _title, sentence = describe(exc)
        print(f"error: {sentence}", file=err)
        return 1


def drive(gen_factory: Callable[[CancelToken], Iterator[Event]], err: TextIO) -> Any:
    """Run a core generator in the foreground, printing progress on stderr; return Done.result.

    Ctrl+C sets the cancel token so the generator can stop cleanly.
    """
    cancel = CancelToken()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(_sig, _frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()

    try:
        signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (tests): no handler, no problem
        previous = None
    result = None
    last_line = ""
    try:
        for event in gen_factory(cancel):
            if isinstance(event, Progress):
                frac = event.fraction
                line = f"{event.stage}" + (f" {frac * 100:3.0f}%" if frac is not None else "")
                if line != last_line:
                    print(line, file=err, flush=True)
                    last_line = line
            elif isinstance(event, Log):
                print(event.message, file=err, flush=True)
            elif isinstance(event, Done):
                result = event.result
                if event.summary:
                    print(event.summary, file=err, flush=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return result


def _human_size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_models(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.models.registry import Registry, Task

    registry = Registry()
    if args.action != "list" and not args.target:
        print(f"error: 'models {args.action}' needs a target", file=err)
        return 2
    if args.action == "add":
        entry = registry.add_local(args.target)
        print(f"added {entry.id} ({entry.task.value}, {entry.format.value})", file=out)
        return 0
    if args.action == "remove":
        print(registry.remove(args.target), file=out)
        return 0
    if args.action == "convert":
        from core.models.convert import convert_gguf

        entry = registry.get(args.target)
        done = drive(lambda c: convert_gguf(registry, entry, c), err)
        print(done.converted_path, file=out)
        return 0
    if args.action == "download":
        from core.models.hub import download

        done = drive(lambda c: download(registry, args.target, c), err)
        print(done.path, file=out)
        return 0
    task = None
    if args.task:
        try:
            task = Task(args.task)
        except ValueError:
            print(f"error: unknown task '{args.task}' (one of: "
                  f"{', '.join(t.value for t in Task)})", file=err)
            return 2
    entries = registry.entries(task)
    if args.json:
        json.dump([e.to_json() for e in entries], out, indent=2)
        out.write("\n")
        return 0
    rows = [(e.id, e.name, e.task.value, e.format.value, e.source.value, _human_size(e.size_bytes),
             e.load_path or e.hub_id or "") for e in entries]
    header = ("ID", "NAME", "TASK", "FORMAT", "SOURCE", "SIZE", "PATH")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1], file=out)
    return 0


def cmd_chat(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.chat.engine import ChatRequest, GenerationSettings, Token, open_model
    from core.errors import BadInput

    if not args.prompt.strip():
        raise BadInput("The prompt is empty.", hint='Example: main.py chat "Hello"')
    if args.num_beams > 1:
        decoding = "beam"
    elif args.temperature == 0:
        decoding = "greedy"
    else:
        decoding = "sampling"
    settings = GenerationSettings(
        decoding=decoding, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
        repetition_penalty=args.repetition_penalty, max_new_tokens=args.max_new_tokens,
        seed=args.seed, num_beams=max(args.num_beams, 1)).validate()
    request = ChatRequest(({"role": "user", "content": args.prompt},), args.system, settings)
    request.validate()
    from core.models.registry import Registry

    engine = drive(lambda c: open_model(Registry(), args.model, args.device, c), err)
    stats = None

    def stream(cancel):
        for ev in engine.stream(request, cancel):
            if isinstance(ev, Token):
                out.write(ev.text)
                out.flush()
            else:
                yield ev

    stats = drive(stream, err)
    out.write("\n")
    ttft = f"{stats.ttft_s:.2f} s" if stats.ttft_s is not None else "-"
    print(f"{stats.tokens} tokens, {stats.tokens_per_s:.1f} tok/s, TTFT {ttft}"
          + (" (stopped)" if stats.stopped else ""), file=err)
    return 0


def cmd_classify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import csv
    import json

    from core.classify.engine import FillMasker, open_classifier, read_table, result_columns
    from core.errors import BadInput
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
                print(t, file=out)
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
            print(f"{p.label.ljust(width)}  {p.score:.3f}  {p.text}", file=out)
    return 0


def cmd_transcribe(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Files one after another, one loaded model; a failed file is reported and the rest go on."""
    from pathlib import Path

    from core.errors import DeviceUnavailable, ModelUnavailable
    from core.models.registry import Registry
    from core.transcribe.service import (BackendCache, TranscribeOptions, export, export_path,
                                 transcribe_file)

    options = TranscribeOptions(
        engine=args.engine, model=args.model, language=args.language, task=args.task,
        beam_size=args.beam_size, word_timestamps=args.word_timestamps, vad_filter=args.vad,
        initial_prompt=args.initial_prompt, device=args.device).validate()
    registry = Registry()
    cache = BackendCache()
    failed = 0
    try:
        for file in args.files:
            try:  # Done's summary, printed by drive, is the "<file>: ... RTF ..." line
                transcript = drive(
                    lambda c, f=file: transcribe_file(f, options, c, cache, registry), err)
            except (ModelUnavailable, DeviceUnavailable, Cancelled):
                raise  # not this file's fault: the next files would fail the same way
            except WorkbenchError as exc:
                print(f"error: {Path(file).name}: {exc.user_message()}", file=err, flush=True)
                failed += 1
                continue
            if args.output_dir:
                print(export_path(transcript, args.format, args.output_dir), file=out, flush=True)
            else:
                out.write(export(transcript, args.format))
                out.flush()
    finally:
        cache.close()
    return 1 if failed else 0


def cmd_finetune(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.finetune.trainer import FinetuneConfig, LossPoint, TrainProgress, export_script, train

    lr = args.lr if args.lr is not None else (5e-4 if args.task == "classification" else 2e-4)
    config = FinetuneConfig(
        task=args.task, base=args.base, data=tuple(args.data), output=args.output,
        method=args.method, lora_r=args.lora_r, lora_alpha=args.lora_alpha, epochs=args.epochs,
        max_steps=args.max_steps, learning_rate=lr, batch_size=args.batch_size,
        grad_accum=args.grad_accum, max_length=args.max_length, eval_split=args.eval_split,
        save_steps=args.save_steps, seed=args.seed, chunk_length=args.chunk_length,
        overlap=args.overlap, hard_cut=args.hard_cut.encode().decode("unicode_escape"),
        text_column=args.text_column, label_column=args.label_column, merge_lora=args.merge,
        device=args.device).validate()
    if args.export_script:
        for path in export_script(config, args.export_script):
            print(path, file=out)
        return 0

    def run(cancel):
        for ev in train(config, cancel, resume=args.resume):
            if isinstance(ev, TrainProgress):
                eta = "-" if ev.eta_s is None else f"{ev.eta_s:.0f} s"
                print(f"step {ev.step}/{ev.max_steps}  epoch {ev.epoch:.2f}  ETA {eta}",
                      file=err, flush=True)
            elif isinstance(ev, LossPoint):
                print(f"step {ev.step}  {ev.split} loss {ev.loss:.4f}", file=err, flush=True)
            else:
                yield ev

    result = drive(run, err)
    metrics = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in result.metrics.items())
    if result.stopped:
        print(f"stopped; resume with --resume (checkpoint {result.checkpoint})", file=err)
        return 130
    print(f"{result.entry_id}  {result.path}", file=out)
    print(f"done: {metrics}", file=err)
    return 0
