"""The `finetune` subcommand: fine-tune a model on local files, or resume a run by its name.

Every default comes from FinetuneConfig's fields; the device choices from core.device."""
from __future__ import annotations

import argparse
import re
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import TextIO

from core.cli import add_device_option
from core.cli.drive import Stop, drive
from core.errors import BadInput

# what a person types on a command line for characters a shell makes awkward
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
_NEEDED = ("task", "base", "data")  # to start a run; a resumed run has them in its run.json


def unescape(text: str) -> str:
    """``text`` with \\n, \\t, \\r and \\\\ turned into the characters they name; every other
    character (non-ASCII included) and any other backslash stays as it is."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


class _Given(argparse.Action):
    """Stores the value and notes that the user typed the option (``<dest>_given``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def _defaults() -> dict:
    from core.finetune import FinetuneConfig

    return {f.name: f.default for f in fields(FinetuneConfig) if f.default is not MISSING}


def _lr_help() -> str:
    from core.finetune import DEFAULT_LEARNING_RATES

    rates = ", ".join(f"{method} {task} {lr:g}"
                      for (method, task), lr in DEFAULT_LEARNING_RATES.items())
    return f"learning rate (default: the method's own: {rates})"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from core.finetune import METHODS, TASKS

    d = _defaults()
    ft = sub.add_parser("finetune", help="fine-tune a model on local files (LoRA or full)",
                        description="Fine-tune a model on local files, or continue a stopped run "
                                    "with --resume --output NAME (its settings come from the "
                                    "run).")
    ft.add_argument("--task", choices=TASKS, help="required unless --resume")
    ft.add_argument("--base", help="registry id or name, folder, or Hub id (required unless "
                                   "--resume)")
    ft.add_argument("--data", nargs="+", metavar="FILE", help="required unless --resume")
    ft.add_argument("--output", required=True, metavar="NAME", help="name of the new model")
    ft.add_argument("--method", default=d["method"], choices=METHODS)
    ft.add_argument("--epochs", type=float, default=d["epochs"])
    ft.add_argument("--max-steps", type=int, default=d["max_steps"])
    ft.add_argument("--lr", type=float, default=d["learning_rate"], help=_lr_help())
    ft.add_argument("--batch-size", type=int, default=d["batch_size"])
    ft.add_argument("--grad-accum", type=int, default=d["grad_accum"])
    ft.add_argument("--max-length", type=int, default=d["max_length"], action=_Given,
                    help="chat and classification: tokens per example (default: %(default)s); "
                         "raw text uses --chunk-length")
    ft.add_argument("--chunk-length", type=int, default=d["chunk_length"],
                    help="raw text: tokens per chunk")
    ft.add_argument("--overlap", type=int, default=d["overlap"],
                    help="raw text: tokens shared by chunks")
    ft.add_argument("--hard-cut", default=d["hard_cut"],
                    help="raw text: always start a chunk here (\\n, \\t, \\r and \\\\ are "
                         "understood)")
    ft.add_argument("--text-column", default=d["text_column"])
    ft.add_argument("--label-column", default=d["label_column"])
    ft.add_argument("--lora-r", type=int, default=d["lora_r"])
    ft.add_argument("--lora-alpha", type=int, default=d["lora_alpha"])
    ft.add_argument("--eval-split", type=float, default=d["eval_split"])
    ft.add_argument("--save-steps", type=int, default=d["save_steps"])
    ft.add_argument("--seed", type=int, default=d["seed"])
    ft.add_argument("--merge", action="store_true", default=d["merge_lora"],
                    help="save merged full weights (LoRA)")
    ft.add_argument("--resume", action="store_true",
                    help="continue the stopped run called --output, with its saved settings")
    ft.add_argument("--overwrite", action="store_true",
                    help="start over: delete the checkpoints of a stopped run called --output")
    ft.add_argument("--export-script", metavar="DIR",
                    help="write an equivalent accelerate launch script to DIR instead of training")
    add_device_option(ft)
    ft.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace):
    """The FinetuneConfig the arguments ask for (validated). With --resume: the run's saved
    configuration (only the device may change); BadInput when a given --task/--base/--data
    differs from it."""
    from core.finetune import FinetuneConfig, saved_config

    if args.resume and args.overwrite:
        raise BadInput("--resume and --overwrite contradict each other.",
                       hint="--resume continues the run; --overwrite deletes it and starts over.")
    if args.resume:
        saved = saved_config(args.output)
        _check_same(args, saved)
        return replace(saved, device=args.device)
    missing = [f"--{name}" for name in _NEEDED if not getattr(args, name)]
    if missing:
        raise BadInput(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} needed to "
                       "start a run.", hint="Give them, or continue a stopped run with --resume.")
    if getattr(args, "max_length_given", False) and args.task == "causal-lm":
        # raw text is cut into chunks: --max-length would do nothing
        raise BadInput("--max-length does not apply to raw-text (causal-lm) runs.",
                       hint=f"Use --chunk-length to set the tokens per example (now "
                            f"{args.chunk_length}).")
    return FinetuneConfig(
        task=args.task, base=args.base, data=tuple(args.data), output=args.output,
        method=args.method, lora_r=args.lora_r, lora_alpha=args.lora_alpha, epochs=args.epochs,
        max_steps=args.max_steps, learning_rate=args.lr, batch_size=args.batch_size,
        grad_accum=args.grad_accum, max_length=args.max_length, eval_split=args.eval_split,
        save_steps=args.save_steps, seed=args.seed, chunk_length=args.chunk_length,
        overlap=args.overlap, hard_cut=unescape(args.hard_cut), text_column=args.text_column,
        label_column=args.label_column, merge_lora=args.merge, device=args.device).validate()


def _same_path(a: str, b: str) -> bool:
    return a == b or Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def _check_same(args: argparse.Namespace, saved) -> None:
    differs = []
    if args.task and args.task != saved.task:
        differs.append(f"--task {args.task} (the run's: {saved.task})")
    if args.base and not _same_path(args.base, saved.base):
        differs.append(f"--base {args.base} (the run's: {saved.base})")
    if args.data and (len(args.data) != len(saved.data) or not all(
            _same_path(a, b) for a, b in zip(args.data, saved.data))):
        differs.append(f"--data {' '.join(args.data)} (the run's: {' '.join(saved.data)})")
    if differs:
        raise BadInput(f"The run '{saved.output}' was started with other settings: "
                       f"{'; '.join(differs)}.",
                       hint="Leave them out to resume it, or start a new run with another "
                            "--output.")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.finetune import LossPoint, TrainProgress, export_script, train_in_child

    config = config_from_args(args)
    if args.export_script:
        for path in export_script(config, args.export_script):
            print(path, file=out)
        return 0

    def run(cancel):
        # in a child process: its memory goes back at the end
        for ev in train_in_child(config, cancel, resume=args.resume, overwrite=args.overwrite):
            if isinstance(ev, TrainProgress):
                eta = "-" if ev.eta_s is None else f"{ev.eta_s:.0f} s"
                print(f"step {ev.step}/{ev.max_steps}  epoch {ev.epoch:.2f}  ETA {eta}",
                      file=err, flush=True)
            elif isinstance(ev, LossPoint):
                print(f"step {ev.step}  {ev.split} loss {ev.loss:.4f}", file=err, flush=True)
            else:
                yield ev

    stop = Stop()
    result = drive(run, err, stop)
    metrics = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in result.metrics.items())
    if result.stopped:
        print(f"stopped; resume with --resume (checkpoint {result.checkpoint})", file=err)
        return stop.exit_code
    print(f"{result.entry_id}  {result.path}", file=out)
    print(f"done: {metrics}", file=err)
    for warning in result.warnings:
        print(f"warning: {warning}", file=err)
    from core.finetune import result_line

    line = result_line(result.metrics)  # the same words as the Fine-tune page
    if line:
        print(line, file=err)
    return 0
