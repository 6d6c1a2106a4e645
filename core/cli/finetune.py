"""The `finetune` subcommand: fine-tune a model on local files."""
from __future__ import annotations

import argparse
from typing import TextIO

from core.cli.drive import drive


def add_parser(sub: argparse._SubParsersAction) -> None:
    ft = sub.add_parser("finetune", help="fine-tune a model on local files (LoRA or full)")
    ft.add_argument("--task", required=True, choices=["causal-lm", "chat", "classification"])
    ft.add_argument("--base", required=True, help="registry id or name, folder, or Hub id")
    ft.add_argument("--data", required=True, nargs="+", metavar="FILE")
    ft.add_argument("--output", required=True, metavar="NAME", help="name of the new model")
    ft.add_argument("--method", default="lora", choices=["lora", "full"])
    ft.add_argument("--epochs", type=float, default=1.0)
    ft.add_argument("--max-steps", type=int, default=-1)
    ft.add_argument("--lr", type=float, help="learning rate (default: LoRA 2e-4, 5e-4 for "
                                             "classification; full 5e-5)")
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
    ft.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.finetune import FinetuneConfig, LossPoint, TrainProgress, export_script, train

    lr = args.lr  # None: the method's own default (core.finetune.trainer.default_learning_rate)
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
