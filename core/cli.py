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
    from core.registry import Registry, Task

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
        from core.convert import convert_gguf

        entry = registry.get(args.target)
        done = drive(lambda c: convert_gguf(registry, entry, c), err)
        print(done.converted_path, file=out)
        return 0
    if args.action == "download":
        from core.hub import download

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
