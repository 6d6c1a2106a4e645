"""Command-line subcommands: thin layers over the same core generators the GUI drives.
One module per subcommand; each adds its parser and runs it."""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from core.errors import Cancelled, WorkbenchError, describe

SUBCOMMANDS = ("models", "chat", "classify", "finetune", "transcribe", "serve", "summarize",
               "compare")


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """The one ``--device`` flag: its choices and default come from core.device."""
    from core.device import DEFAULT_DEVICE, DEVICE_CHOICES

    parser.add_argument("--device", default=DEFAULT_DEVICE, choices=DEVICE_CHOICES,
                        help=f"where the model runs (default: {DEFAULT_DEVICE})")


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    import importlib

    for name in SUBCOMMANDS:
        importlib.import_module(f"core.cli.{name}").add_parser(sub)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run a parsed subcommand. Expected errors: one line on stderr and exit code 1.

    The registry is opened first (``args.registry``, for handlers to use): what it could not read
    (a broken list of added models, set aside) is printed once on stderr as ``warning: ...``.
    """
    # the streams of the moment (not those of import time: a caller may have redirected them)
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    registry = None
    try:
        from core.models import Registry

        registry = args.registry = Registry()
        warn(registry.check_files(), err)
        return args.handler(args, out, err)
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return 130
    except Cancelled as exc:
        print("error: cancelled", file=err)
        return getattr(exc, "exit_code", 130)
    except WorkbenchError as exc:
        print(f"error: {exc.user_message()}", file=err)
        return 1
    except Exception as exc:  # unexpected: still one line, never a traceback wall
        _title, sentence = describe(exc)
        print(f"error: {sentence}", file=err)
        return 1
    finally:
        if registry is not None:
            warn(registry.take_problems(), err)


def warn(problems: list[str], err: TextIO) -> None:
    for problem in problems:
        print(f"warning: {problem}", file=err, flush=True)
