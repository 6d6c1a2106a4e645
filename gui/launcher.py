"""LLM Workbench's entry point: no arguments open the app; a SUBCOMMAND runs the CLI.

The same ``main`` serves ``python main.py``, ``python -m gui`` and the installed
``llm-workbench`` command (pyproject's [project.scripts])."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


class _Version(argparse.Action):
    """--version, looked up only when asked (the window should not wait for it)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from core.runtime import app_version

        print(f"LLM Workbench {app_version()}")
        parser.exit()


DESCRIPTION = "LLM Workbench: without arguments it opens the app; with a SUBCOMMAND it runs the CLI."


def _prog() -> str:
    """How the user started it: main.py, llm-workbench, or python -m gui."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m gui" if name in ("__main__.py", "-c", "") else name


def build_parser(with_subcommands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_prog(), description=DESCRIPTION)
    parser.add_argument("--version", action=_Version, help="print the app's version and exit")
    parser.add_argument("--screenshot", metavar="PATH",
                        help="open the window, save a PNG once it has painted, and exit")
    parser.add_argument("--page", metavar="NAME",
                        help="page to show: chat, classify, transcribe, finetune or models")
    parser.add_argument("--wait-idle", action="store_true",
                        help="with --screenshot: wait until background jobs finish first")
    parser.add_argument("--startup-trace", action="store_true", help=argparse.SUPPRESS)
    if with_subcommands:
        from core.cli import add_subcommands

        sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
        add_subcommands(sub)
    else:
        parser.set_defaults(command=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The GUI path skips the CLI modules: the window should paint as early as possible.
    cli = bool(argv) and (argv[0] in ("-h", "--help") or not argv[0].startswith("-"))
    args = build_parser(with_subcommands=cli).parse_args(argv)
    if args.command:
        from core.cli import run
        from core.runtime import use_spawn

        use_spawn()
        return run(args)
    from gui.app import run_app  # PySide6 only; torch loads later, in workers

    return run_app(screenshot=args.screenshot, page=args.page, wait_idle=args.wait_idle,
                   trace=args.startup_trace)


if __name__ == "__main__":
    sys.exit(main())
