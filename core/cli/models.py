"""The `models` subcommand: list, add, remove, convert or download models."""
from __future__ import annotations

import argparse
import json
from typing import TextIO

from core.cli.drive import drive


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list, add, remove, convert or download models")
    models.add_argument("action", nargs="?", default="list",
                        choices=["list", "add", "remove", "convert", "download"])
    models.add_argument("target", nargs="?", help="path (add), id (remove, convert), Hub id")
    models.add_argument("--json", action="store_true", help="print a JSON list")
    models.add_argument("--task", help="only models for this task, e.g. text-generation")
    models.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.models.registry import Registry, Task

    registry = getattr(args, "registry", None) or Registry()
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
    rows = [(e.id, e.name, e.task.value, e.format.value, e.source.value, human_size(e.size_bytes),
             e.load_path or e.hub_id or "") for e in entries]
    header = ("ID", "NAME", "TASK", "FORMAT", "SOURCE", "SIZE", "PATH")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1], file=out)
    return 0


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
