"""LLM Workbench: `python main.py` opens the app; `python main.py SUBCOMMAND` runs the CLI."""
from __future__ import annotations

import argparse
import multiprocessing
import sys


def build_parser() -> argparse.ArgumentParser:
    from core.cli import add_subcommands

    parser = argparse.ArgumentParser(prog="main.py", description=__doc__)
    parser.add_argument("--screenshot", metavar="PATH",
                        help="open the window, save a PNG once it has painted, and exit")
    parser.add_argument("--page", metavar="NAME",
                        help="page to show: chat, classify, transcribe, finetune or models")
    parser.add_argument("--wait-idle", action="store_true",
                        help="with --screenshot: wait until background jobs finish first")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command:
        from core.cli import run

        return run(args)
    from gui.app import run_app  # PySide6 only; torch loads later, in workers

    return run_app(screenshot=args.screenshot, page=args.page, wait_idle=args.wait_idle)


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn", force=True)
    sys.exit(main())
